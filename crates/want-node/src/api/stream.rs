//! The stream of committed blocks (`GET /v1/events`, a WebSocket): per block a `block` message,
//! per transaction its `receipt`, and every module's events (`<module>_event`), resumable with
//! `from_height` (a slow client reads from storage, so it never misses a block).

use std::collections::BTreeSet;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::PartialSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_types::{Event, ModuleId};

use crate::api::{bad, ApiError, ApiResult, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

/// Most blocks the stream's replay reads in one task of the read pool (a client replaying from
/// height 0 reads the chain a chunk at a time, never on the async workers).
pub const WS_REPLAY_CHUNK_BLOCKS: u64 = 32;
/// Most bytes of messages one replay task reads, in bytes (a chunk holds at least one block's).
pub const WS_REPLAY_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Pause before a replay asks a busy read pool again, in milliseconds.
const WS_REPLAY_RETRY_MS: u64 = 200;
/// Largest message or frame a stream's client may send, in bytes: clients only close streams
/// (and answer pings), so anything larger is refused instead of buffered.
pub const WS_INCOMING_BYTES_MAX: usize = 4 * 1024;
/// How long one message may take to reach a stream's client, in milliseconds; a client that
/// stops reading is disconnected after this, giving its slot back.
pub const WS_SEND_TIMEOUT_MS: u64 = 30_000;

/// Most bytes of a WebSocket close frame's reason (a control frame carries 125 bytes, two of
/// them the close code).
const CLOSE_REASON_BYTES_MAX: usize = 123;

/// The stream's route (it serves blocks, receipts and events, not state: available on a node
/// whose state diverged, like blocks).
pub fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Deserialize)]
struct EventsQuery {
    from_height: Option<u64>,
    /// Comma-separated message types to receive (`block,receipt` and `<module>_event` for each
    /// module, e.g. `token_event,trace_event`; default all).
    kinds: Option<String>,
}

/// The message types a stream client may ask for: `block`, `receipt` and every registered
/// module's `<module>_event`.
fn kind_names() -> Vec<String> {
    ["block".to_string(), "receipt".to_string()]
        .into_iter()
        .chain(ModuleId::ALL.iter().map(|m| format!("{}_event", m.name())))
        .collect()
}

/// The query parameters of `GET /v1/events`, described by hand: the pattern of `kinds` is built
/// from the registered modules.
impl utoipa::IntoParams for EventsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let names = kind_names().join("|");
        // What `StreamKinds::parse` accepts: names separated by commas, each part trimmed of
        // white space, empty parts skipped.
        let kinds = format!(r"^\s*({names})?\s*(,\s*({names})?\s*)*$");
        vec![
            ParameterBuilder::new()
                .name("from_height")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("First block to send (default: the next one)."))
                .schema(Some(u64::schema()))
                .build(),
            ParameterBuilder::new()
                .name("kinds")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(format!(
                    "Comma-separated message types to receive, of {} (default all).",
                    kind_names().join(", ")
                )))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(kinds)),
                ))
                .build(),
        ]
    }
}

/// Which message types a stream client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamKinds {
    pub block: bool,
    pub receipt: bool,
    /// The modules whose events (`<module>_event`) to send.
    pub events: BTreeSet<ModuleId>,
}

impl StreamKinds {
    /// Every message type.
    pub fn all() -> StreamKinds {
        StreamKinds {
            block: true,
            receipt: true,
            events: ModuleId::ALL.iter().copied().collect(),
        }
    }

    /// Whether the stream carries what this node's execution produced (receipts, events),
    /// which a node whose state diverged does not serve.
    pub fn executed(&self) -> bool {
        self.receipt || !self.events.is_empty()
    }

    fn parse(s: Option<&str>) -> Result<StreamKinds, ApiError> {
        let Some(s) = s else {
            return Ok(StreamKinds::all());
        };
        let mut k = StreamKinds {
            block: false,
            receipt: false,
            events: BTreeSet::new(),
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "block" => k.block = true,
                "receipt" => k.receipt = true,
                other => {
                    let module = other
                        .strip_suffix("_event")
                        .and_then(ModuleId::from_name)
                        .ok_or_else(|| {
                            let names: Vec<String> = ModuleId::ALL
                                .iter()
                                .map(|m| format!("{}_event", m.name()))
                                .collect();
                            bad(
                                codes::INVALID_QUERY,
                                format!(
                                    "kinds: unknown message type {other:?}; use block, receipt, {}",
                                    names.join(", ")
                                ),
                            )
                        })?;
                    k.events.insert(module);
                }
            }
        }
        Ok(k)
    }
}

/// The stream message type of a module's event: `<module>_event`.
fn event_type(e: &Event) -> String {
    format!("{}_event", e.module().name())
}

#[utoipa::path(get, path = "/v1/events", tag = "stream", params(EventsQuery),
    responses((status = 101, description = "switching to the WebSocket stream: per block a `block` message, per transaction its `receipt`, and the modules' `<module>_event` messages"),
        (status = 400, description = "invalid_query"),
        (status = 426, description = "websocket_required: a plain request, not a WebSocket upgrade"),
        (status = 503, description = "too_many_streams: http.ws_clients_max streams are open")))]
async fn events(
    State(node): State<Node>,
    Query(q): Query<EventsQuery>,
    peer: Option<axum::Extension<super::ratelimit::Peer>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult {
    let kinds = StreamKinds::parse(q.kinds.as_deref())?;
    if kinds.executed() {
        node.shared.refuse_if_diverged()?;
    }
    let ws = ws.map_err(|e| {
        bad(
            codes::WEBSOCKET_REQUIRED,
            format!(
                "/v1/events is a WebSocket stream; connect with a WebSocket client ({})",
                e.body_text()
            ),
        )
    })?;
    let slot = node.shared.ws_slots.clone().try_acquire_owned().map_err(|_| {
        bad(
            codes::TOO_MANY_STREAMS,
            format!(
                "this node already serves {} event streams (http.ws_clients_max); retry later or use another node",
                node.shared.cfg.http.ws_clients_max
            ),
        )
    })?;
    let limits = &node.shared.cfg.http;
    let held = match peer {
        Some(axum::Extension(super::ratelimit::Peer(ip)))
            if !super::ratelimit::exempt_from_holding_caps(ip, limits) =>
        {
            let key = super::ratelimit::ClientKey::of(ip);
            Some(node.shared.ws_per_client.try_hold(key).ok_or_else(|| {
                bad(
                    codes::TOO_MANY_STREAMS,
                    format!(
                        "this client already holds {} event streams (http.client_streams_max); close one, or subscribe to several kinds on one stream",
                        limits.client_streams_max
                    ),
                )
            })?)
        }
        _ => None,
    };
    let from = match q.from_height {
        Some(h) => h,
        None => node.shared.store.head().map_err(NodeError::from)?.height + 1,
    };
    let ws = ws
        .max_message_size(WS_INCOMING_BYTES_MAX)
        .max_frame_size(WS_INCOMING_BYTES_MAX);
    Ok(ws.on_upgrade(move |socket| async move {
        stream_events(socket, node, from, kinds).await;
        drop(held);
        drop(slot);
    }))
}

/// The messages describing one committed block: the block, then per transaction its `receipt`
/// and its events (`<module>_event`), then the events of the block's end-of-block work (without
/// `tx_id` and `index`).
pub fn block_messages(
    node: &Node,
    height: u64,
    kinds: &StreamKinds,
) -> Result<Vec<Value>, NodeError> {
    let store = &node.shared.store;
    let Some(info) = store.block_info(height)? else {
        return Ok(vec![]);
    };
    if kinds.executed() {
        node.shared.refuse_if_diverged()?;
    }
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
    if !kinds.receipt && kinds.events.is_empty() {
        return Ok(out);
    }
    for (i, r) in receipts.iter().enumerate() {
        if kinds.receipt {
            // The receipt without its events (they follow as <module>_event messages); built by
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
        for e in &r.events {
            if kinds.events.contains(&e.module()) {
                out.push(json!({"type": event_type(e), "height": height, "tx_id": r.tx_id, "index": i, "event": e}));
            }
        }
    }
    if !kinds.events.is_empty() {
        for e in store.hook_events(height)? {
            if kinds.events.contains(&e.module()) {
                out.push(json!({"type": event_type(&e), "height": height, "tx_id": null, "index": null, "event": e}));
            }
        }
    }
    Ok(out)
}

/// The messages of the blocks from `from` to at most `head`, as text: at most
/// [`WS_REPLAY_CHUNK_BLOCKS`] blocks and about [`WS_REPLAY_CHUNK_BYTES`] (at least one block),
/// with the height to continue from. An error after some blocks ends the chunk before the
/// failing block (the next chunk reports it).
pub fn replay_chunk(
    node: &Node,
    from: u64,
    head: u64,
    kinds: &StreamKinds,
) -> Result<(Vec<String>, u64), NodeError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut next = from;
    while next <= head && next - from < WS_REPLAY_CHUNK_BLOCKS && bytes < WS_REPLAY_CHUNK_BYTES {
        match block_messages(node, next, kinds) {
            Ok(messages) => {
                for m in messages {
                    let text = m.to_string();
                    bytes = bytes.saturating_add(text.len());
                    out.push(text);
                }
            }
            Err(e) if next == from => return Err(e),
            Err(_) => break,
        }
        next += 1;
    }
    Ok((out, next))
}

/// Sends one message within [`WS_SEND_TIMEOUT_MS`]; whether it went.
async fn send(socket: &mut WebSocket, m: Message) -> bool {
    let limit = std::time::Duration::from_millis(WS_SEND_TIMEOUT_MS);
    matches!(
        tokio::time::timeout(limit, socket.send(m)).await,
        Ok(Ok(()))
    )
}

async fn stream_events(mut socket: WebSocket, node: Node, from: u64, kinds: StreamKinds) {
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
            // The replay's reads run on the read pool, a bounded chunk at a time.
            let (n, k) = (node.clone(), kinds.clone());
            let chunk = tokio::select! {
                _ = &mut stopping => {
                    let _ = send(&mut socket, Message::Close(None)).await;
                    break 'outer;
                }
                r = node.shared.reads.run(metrics, move || replay_chunk(&n, next, head, &k)) => r,
            };
            let (messages, after) = match chunk {
                Ok(c) => c,
                Err(e) if e.code() == codes::BUSY => {
                    // The pool is full of other reads: this stream waits its turn.
                    tokio::select! {
                        _ = &mut stopping => {
                            let _ = send(&mut socket, Message::Close(None)).await;
                            break 'outer;
                        }
                        _ = tokio::time::sleep(std::time::Duration::from_millis(WS_REPLAY_RETRY_MS)) => continue,
                    }
                }
                Err(e) => {
                    // Say why the stream ends (a divergence, a storage error), then close it.
                    let mut reason = format!("{}: {e}", e.code());
                    while reason.len() > CLOSE_REASON_BYTES_MAX {
                        reason.pop();
                    }
                    let close = Message::Close(Some(CloseFrame {
                        code: close_code::ERROR,
                        reason: reason.into(),
                    }));
                    let _ = send(&mut socket, close).await;
                    break 'outer;
                }
            };
            for m in messages {
                if !send(&mut socket, Message::Text(m.into())).await {
                    break 'outer;
                }
            }
            next = after;
        }
        tokio::select! {
            _ = &mut stopping => {
                let _ = send(&mut socket, Message::Close(None)).await;
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

#[cfg(test)]
mod parser_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_inputs::{mutated, nasty_char};

    fn names() -> Vec<String> {
        let mut n = vec!["block".to_string(), "receipt".to_string()];
        n.extend(ModuleId::ALL.iter().map(|m| format!("{}_event", m.name())));
        n
    }

    /// What the list asks for, read part by part; None if a part names no message type.
    fn expected(s: &str) -> Option<StreamKinds> {
        let mut k = StreamKinds {
            block: false,
            receipt: false,
            events: BTreeSet::new(),
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "block" {
                k.block = true;
            } else if part == "receipt" {
                k.receipt = true;
            } else {
                let m = ModuleId::ALL
                    .iter()
                    .find(|m| format!("{}_event", m.name()) == part)?;
                k.events.insert(*m);
            }
        }
        Some(k)
    }

    fn check(s: &str) -> Result<(), TestCaseError> {
        match (StreamKinds::parse(Some(s)), expected(s)) {
            (Ok(k), Some(want)) => prop_assert_eq!(k, want),
            (Err(ApiError(e)), None) => {
                prop_assert_eq!(e.code(), codes::INVALID_QUERY);
                prop_assert!(
                    e.to_string().starts_with("kinds: unknown message type "),
                    "{e}"
                );
            }
            (got, want) => prop_assert!(false, "{s:?}: {:?} but {want:?}", got.map_err(|e| e.0)),
        }
        Ok(())
    }

    fn list() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (prop::sample::select(names()), "[ \t]{0,2}", "[ \t]{0,2}")
                .prop_map(|(n, a, b)| format!("{a}{n}{b}")),
            0..6,
        )
        .prop_map(|v| v.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_kinds_text_is_the_parts_or_invalid_query(
            s in prop_oneof![
                any::<String>(),
                prop::collection::vec(nasty_char(), 0..40).prop_map(|v| v.into_iter().collect()),
            ],
        ) {
            check(&s)?;
        }

        #[test]
        fn mutated_kinds_lists_are_the_parts_or_invalid_query(s in mutated(list())) {
            check(&s)?;
        }

        #[test]
        fn printed_kinds_read_back(s in list()) {
            let k = StreamKinds::parse(Some(&s)).unwrap();
            let mut printed: Vec<String> = Vec::new();
            if k.block {
                printed.push("block".into());
            }
            if k.receipt {
                printed.push("receipt".into());
            }
            printed.extend(k.events.iter().map(|m| format!("{}_event", m.name())));
            prop_assert_eq!(StreamKinds::parse(Some(&printed.join(","))).unwrap(), k);
        }
    }

    #[test]
    fn no_list_is_every_kind_and_an_empty_one_is_none() {
        assert_eq!(StreamKinds::parse(None).unwrap(), StreamKinds::all());
        let none = StreamKinds::parse(Some(" , ,")).unwrap();
        assert!(!none.block && !none.executed());
    }
}
