//! The HTTP API: JSON over REST, the WebSocket stream, OpenAPI generated from the handlers,
//! Prometheus metrics. The router is assembled from the kernel's routes (`kernel.rs`,
//! `stream.rs`) and every module's node part; every module route, and the kernel's routes that
//! serve state, sit behind the divergence guard. Every answer the node gives is JSON of a type
//! with a schema in the document (`document.rs`), errors included: axum's own rejections (a
//! malformed path or query, an unknown method, a body over the limit) are mapped to registered
//! codes too.

pub mod document;
pub mod kernel;
pub mod ratelimit;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use want_types::Address;

use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

pub use document::{ErrorBody, ErrorDetail};
pub use kernel::{BATCH_BODY_BYTES_MAX, TX_BODY_BYTES_MAX};

/// An API error, rendered as `{"error": {"code", "message"}}` with a 4xx/5xx status.
#[derive(Debug)]
pub struct ApiError(pub NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// The error as it is answered: `{"error": {"code", "message", "path"?}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.0.code(),
                message: self.0.to_string(),
                path: self.0.path().map(str::to_string),
                reason: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

/// A JSON answer of a typed view, written as the API has always written its answers: through
/// `serde_json::Value`, whose objects keep their keys sorted, so the bytes of an answer do not
/// depend on the field order of its view type.
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(v) => axum::Json(v).into_response(),
            Err(e) => ApiError(NodeError::Io(format!("encoding the answer: {e}"))).into_response(),
        }
    }
}

/// `axum::extract::Query`, answering a query string that does not parse into `T` with the JSON
/// error `invalid_query` (axum's own rejection is plain text).
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| bad(codes::INVALID_QUERY, e.body_text()))
    }
}

/// `axum::extract::Path`, answering path parameters that do not parse into `T` (not UTF-8 once
/// percent-decoded) with the JSON error `invalid_path`.
pub struct Path<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| bad(codes::INVALID_PATH, e.body_text()))
    }
}

pub type ApiResult = Result<Response, ApiError>;

pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError(NodeError::rejected(code, message))
}

/// The routes and the OpenAPI document of the node: the kernel's, then every module's, each
/// module's routes (and the kernel's state routes) behind the divergence guard. The document is
/// completed by [`document::complete`].
pub fn routes_and_openapi(node: &Node) -> (Router, serde_json::Value) {
    let guard = || axum::middleware::from_fn_with_state(node.clone(), refuse_state_when_diverged);
    let mut all: OpenApiRouter = OpenApiRouter::new().merge(
        kernel::routes()
            .merge(kernel::state_routes().route_layer(guard()))
            .merge(stream::routes())
            .with_state(node.clone()),
    );
    for m in node.shared.modules.clone() {
        // axum refuses a route layer on a router without routes: a module without routes yet
        // (its node part still to come) adds only its document.
        let (router, doc) = m.routes(node).split_for_parts();
        let router = if router.has_routes() {
            router.route_layer(guard())
        } else {
            router
        };
        let mut part = OpenApiRouter::from(router);
        *part.get_openapi_mut() = doc;
        all = all.merge(part);
    }
    let (router, mut doc) = all.split_for_parts();
    describe(&mut doc);
    (router, document::complete(doc))
}

/// The public API's router. When the node has a member listener (`cluster.member_addr`), the
/// members' requests (`POST /v1/cluster/rpc`, `POST /v1/cluster/votes`) are refused here with
/// `404 member_listener_only`, their bodies unread.
pub fn router(node: Node) -> Router {
    let members_elsewhere = node
        .shared
        .cfg
        .cluster
        .as_ref()
        .is_some_and(|c| c.member_addr.is_some());
    let app = all_routes(node);
    if members_elsewhere {
        app.layer(axum::middleware::from_fn(refuse_member_traffic))
    } else {
        app
    }
}

/// The member listener's router: only what members ask of each other ([`is_member_route`]);
/// anything else is `404 not_found` there.
pub fn member_router(node: Node) -> Router {
    all_routes(node).layer(axum::middleware::from_fn(member_routes_only))
}

/// Whether members ask this of each other: Raft RPCs and forwarded transactions (signed
/// envelopes), commit votes, catch-up by blocks, and blob repair and replication (signed with
/// the member's node key; replication is `PUT /v1/blobs`, which also takes accounts' uploads on
/// the public API). The member listener serves these and nothing else.
pub fn is_member_route(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    match *method {
        Method::POST => matches!(path, "/v1/cluster/rpc" | "/v1/cluster/votes"),
        Method::PUT => path == "/v1/blobs",
        Method::GET => {
            path.starts_with("/v1/sync/")
                || path.starts_with("/v1/cluster/votes/")
                || path.starts_with("/v1/cluster/blobs/")
        }
        _ => false,
    }
}

/// On the public API of a node with a member listener: refuses members' writes
/// (`POST /v1/cluster/rpc`, `POST /v1/cluster/votes`) before their bodies are read.
async fn refuse_member_traffic(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if req.method() == axum::http::Method::POST
        && matches!(path, "/v1/cluster/rpc" | "/v1/cluster/votes")
    {
        return bad(
            codes::MEMBER_LISTENER_ONLY,
            format!("{path}: member traffic is served on the member listener (cluster.member_addr; members reach it at the URLs of the membership), not on the public API"),
        )
        .into_response();
    }
    next.run(req).await
}

/// On the member listener: serves members' routes only, and of `PUT /v1/blobs` only members'
/// copies (accounts upload on the public API, under its rate limit).
async fn member_routes_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::PUT
        && req.uri().path() == "/v1/blobs"
        && !req
            .headers()
            .contains_key(crate::modules::trace::blob_repair::MEMBER_HEADER)
    {
        return bad(
            codes::MEMBER_LISTENER_ONLY,
            format!(
                "PUT /v1/blobs on the member listener takes members' copies only (signed with {}); accounts upload on the node's public API (http_addr)",
                crate::modules::trace::blob_repair::MEMBER_HEADER
            ),
        )
        .into_response();
    }
    if !is_member_route(req.method(), req.uri().path()) {
        return ApiError(NodeError::NotFound {
            code: codes::NOT_FOUND,
            message: format!(
                "{} {} is not served on the member listener; use the node's public API (http_addr)",
                req.method(),
                req.uri().path()
            ),
        })
        .into_response();
    }
    next.run(req).await
}

/// Every route, `/openapi.json` and the fallbacks.
fn all_routes(node: Node) -> Router {
    let (router, doc) = routes_and_openapi(&node);
    let doc = Arc::new(doc);
    router
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

/// The document's title, version and conventions.
fn describe(doc: &mut utoipa::openapi::OpenApi) {
    doc.info.title = "WANT chain node API".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "Amounts are base units (1 WANT = 1,000,000) as decimal strings. Errors are {\"error\": {\"code\", \"message\"}} with a stable snake_case code (components.schemas.Error; every registered code with its HTTP status is listed in components.schemas.ErrorCode). A node whose state diverged from its cluster's majority answers 503 state_diverged on every route that serves state.".into(),
    );
}

/// How long serving waits for open requests to finish once `shutdown` resolved, in
/// milliseconds.
pub const SERVE_DRAIN_MS: u64 = 10_000;
/// Pause after a failed `accept` (e.g. out of file descriptors), in milliseconds.
const ACCEPT_RETRY_MS: u64 = 100;

/// A connection's byte stream: a TCP stream, or TLS over one (the member listener of an
/// `https://` member).
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Which of the node's listeners a serve loop runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The public API (`http_addr`): every route.
    Public,
    /// The member listener (`cluster.member_addr`): members' routes only.
    Members,
}

/// Serves the public API until `shutdown` resolves (see [`serve_listener`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_listener(Listener::Public, listener, node, shutdown).await
}

/// Serves the member listener until `shutdown` resolves (see [`serve_listener`]); its
/// connection limit is `cluster.member_connections_max`.
pub async fn serve_members(
    listener: tokio::net::TcpListener,
    node: Node,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_listener(Listener::Members, listener, node, shutdown).await
}

/// Serves a listener until `shutdown` resolves, within the node's `[http]` limits: at most
/// `connections_max` open connections (`cluster.member_connections_max` on the member
/// listener) and `client_connections_max` per client (`cluster.member_client_connections_max`;
/// more are closed at once, counted in `want_http_connections_refused_total`),
/// `header_read_timeout_ms` to send a request's headers from the moment the connection opens or
/// the previous answer went out (a slowloris client, a silent one and an idle keep-alive
/// connection are all dropped), `request_timeout_ms` per request (`408 request_timeout`), and
/// on the public listener `client_requests_per_second` and `client_burst` per client
/// ([`ratelimit`]).
///
/// The member listener of a member whose `cluster.advertise_url` is `https://` speaks TLS 1.3
/// only, with a client certificate of a current member's node key required
/// (`want_consensus::net::tls`); the handshake must finish within `header_read_timeout_ms`, and
/// a connection refused there is closed without an HTTP answer (logged at most once per
/// [`want_consensus::net::LOG_EVERY_MS`]).
///
/// The server speaks HTTP/1.1 only (WebSocket upgrades included): HTTP/2 over plain TCP has no
/// client among browsers and the project's tools, and its connection preface and idle streams
/// escape the header timeout. A TLS proxy in front may speak HTTP/2 to its clients.
pub async fn serve_listener(
    which: Listener,
    listener: tokio::net::TcpListener,
    node: Node,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let mut limits = node.shared.cfg.http.clone();
    let shared = node.shared.clone();
    let (app, cap_setting, all_setting) = match which {
        Listener::Public => (
            router(node),
            "http.client_connections_max",
            "http.connections_max",
        ),
        Listener::Members => {
            if let Some(c) = &shared.cfg.cluster {
                limits.connections_max = c.member_connections_max;
                limits.client_connections_max = c.member_client_connections_max;
            }
            // Members are few, authenticated per message and bounded by their connection
            // slots: a leader's appends and heartbeats must never be answered 429.
            limits.client_requests_per_second = 0;
            (
                member_router(node),
                "cluster.member_client_connections_max",
                "cluster.member_connections_max",
            )
        }
    };
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout_ms,
        bound_request_time,
    ));
    let limited = ratelimit::limited(
        app.clone(),
        &limits,
        shared.metrics.http_rate_limited.clone(),
    );
    // The member listener of a member advertised at an `https://` URL speaks the members' TLS
    // only (`want_consensus::net::tls`): a client must present a current member's key.
    let acceptor = match which {
        Listener::Members if shared.cfg.cluster.as_ref().is_some_and(|c| c.member_tls()) => {
            let tls = shared.member_tls.get().ok_or_else(|| {
                std::io::Error::other(
                    "cluster.advertise_url is https:// but this node has no member TLS (it runs no cluster transport: does the genesis name the members?)",
                )
            })?;
            Some(tokio_rustls::TlsAcceptor::from(tls.server_config()))
        }
        _ => None,
    };
    let handshake_limit = std::time::Duration::from_millis(limits.header_read_timeout_ms);
    let handshake_refusals = Arc::new(parking_lot::Mutex::new(
        want_consensus::net::RateLimitedLog::new(want_consensus::net::LOG_EVERY_MS),
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections_max));
    let per_client = ratelimit::PerClient::new(limits.client_connections_max);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_millis(
            limits.header_read_timeout_ms,
        ));
    let mut refusals = want_consensus::net::RateLimitedLog::new(want_consensus::net::LOG_EVERY_MS);
    let mut client_refusals =
        want_consensus::net::RateLimitedLog::new(want_consensus::net::LOG_EVERY_MS);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if let Some(n) = refusals.tick() {
                        tracing::warn!(target: "http", "accepting a connection failed ({n} times since the last report): {e}");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(ACCEPT_RETRY_MS)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let client = ratelimit::ClientKey::of(peer.ip());
        let held = if ratelimit::exempt_from_holding_caps(peer.ip(), &limits) {
            None
        } else {
            match per_client.try_hold(client) {
                Some(h) => Some(h),
                None => {
                    shared.metrics.http_connections_refused.inc();
                    if let Some(n) = client_refusals.tick() {
                        tracing::warn!(target: "http", "{n} connections closed at once since the last report: their client (last {}) already holds {} ({cap_setting})", peer.ip(), limits.client_connections_max);
                    }
                    drop(stream);
                    continue;
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            shared.metrics.http_connections_refused.inc();
            if let Some(n) = refusals.tick() {
                tracing::warn!(target: "http", "{n} connections closed at once since the last report: {} are open ({all_setting})", limits.connections_max);
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = if ratelimit::exempt(peer.ip(), &limits) {
            app.clone()
        } else {
            limited.clone()
        };
        let (client, peer) = (ratelimit::Client(client), ratelimit::Peer(peer.ip()));
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(client);
                    req.extensions_mut().insert(peer);
                    req
                })
                .service(router),
        );
        let mut stopped = stopped.clone();
        let (http1, acceptor) = (http1.clone(), acceptor.clone());
        let handshake_refusals = handshake_refusals.clone();
        tokio::spawn(async move {
            let io: Box<dyn Io> = match acceptor {
                None => Box::new(stream),
                // The handshake must finish within the header timeout; the request's headers
                // then have the same time again.
                Some(acceptor) => {
                    let handshake = match tokio::time::timeout(
                        handshake_limit,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => Ok(Box::new(tls)),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!(
                            "no handshake within {} ms (http.header_read_timeout_ms)",
                            handshake_limit.as_millis()
                        )),
                    };
                    match handshake {
                        Ok(tls) => tls,
                        Err(reason) => {
                            if let Some(n) = handshake_refusals.lock().tick() {
                                tracing::warn!(target: "http", "refused a connection to the member listener at its TLS handshake ({n} since the last report; last from {}): {reason}; members present a certificate of their node key, and only current members' keys are accepted", peer.0);
                            }
                            return;
                        }
                    }
                }
            };
            let conn = http1
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Told to stop (or the serve loop is gone): finish the request in flight,
                // then close.
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(held);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drain = std::time::Duration::from_millis(SERVE_DRAIN_MS);
    let every_slot = u32::try_from(limits.connections_max).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, slots.acquire_many(every_slot))
        .await
        .is_err()
    {
        tracing::warn!(target: "http", "requests still open {} ms after shutdown were cut", drain.as_millis());
    }
    Ok(())
}

/// How long a member's Raft RPC (`POST /v1/cluster/rpc`) may take: an install-snapshot RPC is
/// answered only once the snapshot is installed, that is once this node caught up by blocks,
/// which may take many minutes; the sender bounds it by the same
/// `want_consensus::raft::network::SNAPSHOT_RPC_TIMEOUT_MS` and every other kind by its own
/// shorter timeout. Only a member can hold a request that long: the envelope's signed header is
/// checked before the body is read.
pub const CLUSTER_RPC_TIMEOUT_MS: u64 = 30 * 60 * 1_000;

/// The longest a request to `path` may take: `request_timeout_ms`, or
/// [`CLUSTER_RPC_TIMEOUT_MS`] for members' Raft RPCs if that is longer.
fn request_time_limit(path: &str, request_timeout_ms: u64) -> std::time::Duration {
    let ms = if path == want_consensus::net::RPC_PATH {
        request_timeout_ms.max(CLUSTER_RPC_TIMEOUT_MS)
    } else {
        request_timeout_ms
    };
    std::time::Duration::from_millis(ms)
}

/// Answers `408 request_timeout` for a request that takes longer than its limit
/// ([`request_time_limit`] of `http.request_timeout_ms`; reading its body included; a WebSocket
/// stream runs after its upgrade and is not bounded here).
async fn bound_request_time(
    State(request_timeout_ms): State<u64>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = request_time_limit(req.uri().path(), request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => bad(
            codes::REQUEST_TIMEOUT,
            format!(
                "the request took longer than {} ms (http.request_timeout_ms); send it again, with a smaller body or a shorter wait",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// Refuses a request with `503 state_diverged` once this node found that its state differs from
/// the cluster majority's, so it never serves a forked state.
async fn refuse_state_when_diverged(
    State(node): State<Node>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Err(e) = node.shared.refuse_if_diverged() {
        return ApiError(e).into_response();
    }
    next.run(req).await
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    bad(
        codes::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not served at {}; see GET /openapi.json",
            uri.path()
        ),
    )
}

async fn not_found() -> ApiError {
    ApiError(NodeError::NotFound {
        code: codes::NOT_FOUND,
        message: "no such endpoint; see GET /openapi.json".into(),
    })
}

/// Parses a JSON request body, naming the path of the first problem.
pub fn parse_json<T: serde::de::DeserializeOwned>(
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

/// Content type of the binary (borsh) submission format, for high-throughput clients.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(BINARY_CONTENT_TYPE))
}

/// Parses a request body as JSON, or as borsh when sent as `application/octet-stream`.
pub fn parse_body<T: serde::de::DeserializeOwned + borsh::BorshDeserialize>(
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

/// Parses an address from a path or query.
pub fn parse_address(s: &str) -> Result<Address, ApiError> {
    s.parse()
        .map_err(|e| bad(codes::INVALID_ADDRESS, format!("{e}")))
}

/// Parses a block height from a path.
pub fn parse_height(height: &str) -> Result<u64, ApiError> {
    height.parse().map_err(|_| {
        bad(
            codes::INVALID_HEIGHT,
            format!("block height {height:?} is not a non-negative integer"),
        )
    })
}

/// Runs a read of stored data on the node's read pool (`kernel/reads.rs`): off the async
/// workers and apart from block execution; `503 busy` when the pool stays full past its wait.
/// Every read route that scans, walks or decodes stored data goes through here.
pub async fn read<T: Send + 'static>(
    node: &Node,
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    node.shared
        .reads
        .run(&node.shared.metrics, f)
        .await
        .map_err(ApiError)
}

/// Runs storage and signature work of writes (submissions, uploads, votes) off the async
/// workers; reads go through [`read`].
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| bad(codes::SHUTTING_DOWN, "the node is shutting down"))?
        .map_err(ApiError)
}

#[cfg(test)]
mod request_time_tests {
    use super::*;

    #[test]
    fn a_members_raft_rpc_may_outlast_the_request_timeout_while_a_snapshot_installs() {
        let default = crate::config::HTTP_REQUEST_TIMEOUT_MS_DEFAULT;
        assert_eq!(
            request_time_limit(want_consensus::net::RPC_PATH, default),
            std::time::Duration::from_millis(CLUSTER_RPC_TIMEOUT_MS)
        );
        assert_eq!(
            request_time_limit("/v1/sync/blocks", default),
            std::time::Duration::from_millis(default)
        );
        assert_eq!(
            request_time_limit("/v1/transactions", default),
            std::time::Duration::from_millis(default)
        );
        // A longer configured timeout is kept for every path.
        let long = 2 * CLUSTER_RPC_TIMEOUT_MS;
        assert_eq!(
            request_time_limit(want_consensus::net::RPC_PATH, long),
            std::time::Duration::from_millis(long)
        );
    }
}

#[cfg(test)]
mod parser_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_inputs::{mutated, nasty_char};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(nasty_char(), 0..48).prop_map(|v| v.into_iter().collect()),
            "[0-9]{15,45}",
        ]
    }

    fn address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(|rest| {
            let mut raw = [0x41; 21];
            raw[1..].copy_from_slice(&rest);
            Address(raw)
        })
    }

    fn check_address(s: &str) -> Result<(), TestCaseError> {
        match (parse_address(s), s.parse::<Address>()) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(ApiError(e)), Err(t)) => {
                prop_assert_eq!(e.code(), codes::INVALID_ADDRESS);
                prop_assert_eq!(e.to_string(), t.to_string());
            }
            (got, want) => prop_assert!(false, "{s:?}: {:?} but {want:?}", got.map_err(|e| e.0)),
        }
        Ok(())
    }

    fn check_height(s: &str) -> Result<(), TestCaseError> {
        match (parse_height(s), s.parse::<u64>()) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(ApiError(e)), Err(_)) => {
                prop_assert_eq!(e.code(), codes::INVALID_HEIGHT);
                prop_assert_eq!(
                    e.to_string(),
                    format!("block height {s:?} is not a non-negative integer")
                );
            }
            (got, want) => prop_assert!(false, "{s:?}: {:?} but {want:?}", got.map_err(|e| e.0)),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_an_address_or_invalid_address(s in text()) {
            check_address(&s)?;
        }

        #[test]
        fn mutated_addresses_are_addresses_or_invalid_address(
            s in mutated(address().prop_map(|a| a.to_string())),
            h in mutated(address().prop_map(|a| format!("0x{}", a.to_hex()))),
        ) {
            check_address(&s)?;
            check_address(&h)?;
        }

        #[test]
        fn printed_addresses_read_back(a in address()) {
            prop_assert_eq!(parse_address(&a.to_string()).unwrap(), a);
            prop_assert_eq!(parse_address(&a.to_hex()).unwrap(), a);
        }

        #[test]
        fn any_text_is_a_height_or_invalid_height(s in text()) {
            check_height(&s)?;
        }

        #[test]
        fn mutated_heights_are_heights_or_invalid_height(
            s in mutated(any::<u64>().prop_map(|h| h.to_string())),
        ) {
            check_height(&s)?;
        }

        #[test]
        fn printed_heights_read_back_and_larger_ones_are_refused(h in any::<u64>()) {
            prop_assert_eq!(parse_height(&h.to_string()).unwrap(), h);
            let over = u128::from(h) + u128::from(u64::MAX) + 1;
            prop_assert_eq!(
                parse_height(&over.to_string()).unwrap_err().0.code(),
                codes::INVALID_HEIGHT
            );
        }
    }
}
