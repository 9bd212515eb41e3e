//! The node's error enum and the stable machine-readable codes the API returns.

use want_state::StateError;
use want_storage::StorageError;

/// The node kernel's stable error codes (`{"error": {"code": …}}`), beside the state machine's
/// (`want_state::codes`, each module's `codes.rs`) and the modules' node parts'. Never renamed
/// once published. [`registry`] is the one list the API answers from.
pub mod codes {
    use want_state::codes::ErrorCode;

    pub use want_state::codes::{
        AMOUNT_OVERFLOW, EXPIRED, FEE_TOO_LOW, NONCE_TOO_LOW, TX_TOO_HEAVY, WRONG_CHAIN_ID,
    };
    pub use want_state::token::codes::{INSUFFICIENT_ALLOWANCE, INSUFFICIENT_BALANCE};

    pub const INVALID_JSON: &str = "invalid_json";
    pub const INVALID_TRANSACTION: &str = "invalid_transaction";
    pub const INVALID_BLOCK: &str = "invalid_block";
    pub const TX_TOO_LARGE: &str = "tx_too_large";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const NONCE_TOO_FAR_AHEAD: &str = "nonce_too_far_ahead";
    pub const NONCE_IN_USE: &str = "nonce_in_use";
    pub const EXPIRY_TOO_FAR: &str = "expiry_too_far";
    pub const DUPLICATE_TRANSACTION: &str = "duplicate_transaction";
    pub const MEMPOOL_FULL: &str = "mempool_full";
    pub const TOO_MANY_PENDING: &str = "too_many_pending";
    pub const BATCH_TOO_LARGE: &str = "batch_too_large";
    pub const INVALID_ADDRESS: &str = "invalid_address";
    pub const INVALID_HASH: &str = "invalid_hash";
    pub const INVALID_HEIGHT: &str = "invalid_height";
    pub const INVALID_QUERY: &str = "invalid_query";
    pub const TX_NOT_FOUND: &str = "tx_not_found";
    pub const BLOCK_NOT_FOUND: &str = "block_not_found";
    pub const NOT_FOUND: &str = "not_found";
    pub const COMMIT_TIMEOUT: &str = "commit_timeout";
    pub const TX_DROPPED: &str = "tx_dropped";
    pub const TX_REPLACED: &str = "tx_replaced";
    pub const TX_EVICTED: &str = "tx_evicted";
    pub const SHUTTING_DOWN: &str = "shutting_down";
    pub const INTERNAL: &str = "internal_error";
    pub const NOT_LEADER: &str = "not_leader";
    pub const NO_LEADER: &str = "no_leader";
    pub const ENVELOPE_REFUSED: &str = "envelope_refused";
    pub const MEMBER_LISTENER_ONLY: &str = "member_listener_only";
    pub const FAULTS_DISABLED: &str = "faults_disabled";
    pub const INVALID_FAULT_PLAN: &str = "invalid_fault_plan";
    pub const INVALID_VOTE: &str = "invalid_vote";
    pub const BAD_VOTE_SIGNATURE: &str = "bad_vote_signature";
    pub const NOT_A_MEMBER: &str = "not_a_member";
    pub const VOTE_TOO_FAR_AHEAD: &str = "vote_too_far_ahead";
    pub const CERTIFICATE_MISSING: &str = "certificate_missing";
    pub const STATE_DIVERGED: &str = "state_diverged";
    pub const INVALID_PATH: &str = "invalid_path";
    pub const INVALID_BODY: &str = "invalid_body";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const WEBSOCKET_REQUIRED: &str = "websocket_required";
    pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";
    pub const STORAGE_LOW: &str = "storage_low";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    pub const TOO_MANY_STREAMS: &str = "too_many_streams";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const BUSY: &str = "busy";

    /// The node kernel's codes with their HTTP status.
    pub const KERNEL: &[ErrorCode] = &[
        ErrorCode::new(
            INVALID_JSON,
            400,
            "the body is not JSON of the expected shape",
        ),
        ErrorCode::new(
            INVALID_TRANSACTION,
            400,
            "the transaction (or block) is malformed",
        ),
        ErrorCode::new(
            INVALID_BLOCK,
            422,
            "a block's content fails its checks (proposer, signatures, roots, time or weight)",
        ),
        ErrorCode::new(
            TX_TOO_LARGE,
            413,
            "the transaction or request body is too large",
        ),
        ErrorCode::new(BAD_SIGNATURE, 400, "the signature does not verify"),
        ErrorCode::new(
            NONCE_TOO_FAR_AHEAD,
            400,
            "the nonce skips more nonces past the account's next one (counting its pending transactions) than the mempool's window allows",
        ),
        ErrorCode::new(
            NONCE_IN_USE,
            409,
            "a pending transaction already uses the nonce (a replacement must pay a higher fee)",
        ),
        ErrorCode::new(EXPIRY_TOO_FAR, 400, "the expiry is more than 24 h ahead"),
        ErrorCode::new(
            DUPLICATE_TRANSACTION,
            409,
            "the transaction is already pending or committed",
        ),
        ErrorCode::new(
            MEMPOOL_FULL,
            429,
            "the mempool is full and the transaction does not outrank what it would evict; pay the fee the message names, or retry after the next block",
        ),
        ErrorCode::new(
            TOO_MANY_PENDING,
            429,
            "the sender has the most pending transactions one account may have; retry once some are committed",
        ),
        ErrorCode::new(BATCH_TOO_LARGE, 413, "too many items in one request"),
        ErrorCode::new(INVALID_ADDRESS, 400, "not an address"),
        ErrorCode::new(INVALID_HASH, 400, "not a hash"),
        ErrorCode::new(INVALID_HEIGHT, 400, "not a block height"),
        ErrorCode::new(INVALID_QUERY, 400, "a query parameter is invalid"),
        ErrorCode::new(
            TX_NOT_FOUND,
            404,
            "no such transaction, committed or pending",
        ),
        ErrorCode::new(BLOCK_NOT_FOUND, 404, "no block at that height"),
        ErrorCode::new(NOT_FOUND, 404, "no such endpoint or item"),
        ErrorCode::new(COMMIT_TIMEOUT, 408, "admitted, but not committed in time"),
        ErrorCode::new(
            TX_DROPPED,
            410,
            "the transaction left the mempool without committing",
        ),
        ErrorCode::new(
            TX_REPLACED,
            410,
            "a transaction with the same sender and nonce and a higher fee replaced it",
        ),
        ErrorCode::new(
            TX_EVICTED,
            410,
            "a full mempool evicted it for a transaction paying more per weight",
        ),
        ErrorCode::new(SHUTTING_DOWN, 503, "the node is shutting down"),
        ErrorCode::new(INTERNAL, 500, "an internal error (see the node's log)"),
        ErrorCode::new(NOT_LEADER, 503, "this member is not the leader"),
        ErrorCode::new(NO_LEADER, 503, "the cluster has no leader right now"),
        ErrorCode::new(ENVELOPE_REFUSED, 403, "a member's message was refused"),
        ErrorCode::new(
            MEMBER_LISTENER_ONLY,
            404,
            "members' traffic is served on the node's member listener (cluster.member_addr), not on its public API",
        ),
        ErrorCode::new(
            FAULTS_DISABLED,
            403,
            "fault injection is disabled on this node",
        ),
        ErrorCode::new(INVALID_FAULT_PLAN, 400, "the fault plan is invalid"),
        ErrorCode::new(INVALID_VOTE, 400, "a commit vote is malformed"),
        ErrorCode::new(
            BAD_VOTE_SIGNATURE,
            400,
            "a commit vote's signature does not verify",
        ),
        ErrorCode::new(NOT_A_MEMBER, 400, "a commit vote is not by a member"),
        ErrorCode::new(
            VOTE_TOO_FAR_AHEAD,
            400,
            "a commit vote is too far beyond the head",
        ),
        ErrorCode::new(
            CERTIFICATE_MISSING,
            404,
            "no majority signed the block (yet)",
        ),
        ErrorCode::new(
            STATE_DIVERGED,
            503,
            "this node's state diverged from the majority's",
        ),
        ErrorCode::new(
            INVALID_PATH,
            400,
            "a path parameter is not UTF-8 once percent-decoded",
        ),
        ErrorCode::new(INVALID_BODY, 400, "the request body could not be read"),
        ErrorCode::new(
            METHOD_NOT_ALLOWED,
            405,
            "the path exists, but not with this method",
        ),
        ErrorCode::new(
            INSUFFICIENT_STORAGE,
            507,
            "the node's disk is below its free-space floor: new work is refused; reads go on",
        ),
        ErrorCode::new(
            REQUEST_TIMEOUT,
            408,
            "the request took longer than the node's http.request_timeout_ms",
        ),
        ErrorCode::new(
            RATE_LIMITED,
            429,
            "this client sent more requests than http.client_requests_per_second and http.client_burst allow; wait the Retry-After seconds",
        ),
        ErrorCode::new(
            TOO_MANY_STREAMS,
            503,
            "the node serves as many event streams as http.ws_clients_max allows",
        ),
        ErrorCode::new(
            STORAGE_LOW,
            503,
            "the node serves reads but takes no new work: its disk is below the free-space floor",
        ),
        ErrorCode::new(
            BUSY,
            503,
            "every reader thread of the node (http.reads_max) stayed taken past the read's wait; retry in a moment, or ask another node",
        ),
        ErrorCode::new(
            WEBSOCKET_REQUIRED,
            426,
            "the route is a WebSocket: connect with a WebSocket upgrade",
        ),
    ];
}

/// Who defines a code of the registry: the state machine's kernel, a module (its state part or
/// its node part), or the node's kernel.
pub type CodeOwner = String;

/// Every code the API can answer: the state machine's kernel's, every registered module's (one
/// list per module, in its `codes.rs`, for all its layers) and the node kernel's, each once, each with its HTTP status (the test
/// `the_code_registry_is_unique_with_one_status_each` holds it to that).
pub fn registry() -> Vec<(CodeOwner, want_state::codes::ErrorCode)> {
    let mut out: Vec<(CodeOwner, want_state::codes::ErrorCode)> = want_state::modules::all_codes()
        .into_iter()
        .map(|(owner, c)| (owner.to_string(), *c))
        .collect();
    out.extend(codes::KERNEL.iter().map(|c| ("node".to_string(), *c)));
    out
}

/// The registry as a map from code to its entry, built once.
fn index() -> &'static std::collections::HashMap<&'static str, want_state::codes::ErrorCode> {
    static INDEX: std::sync::OnceLock<
        std::collections::HashMap<&'static str, want_state::codes::ErrorCode>,
    > = std::sync::OnceLock::new();
    INDEX.get_or_init(|| registry().into_iter().map(|(_, c)| (c.code, c)).collect())
}

/// The registered code equal to `code` (received from another member or read from a receipt),
/// or `internal_error` for one this build does not know.
pub fn static_code(code: &str) -> &'static str {
    index().get(code).map_or(codes::INTERNAL, |c| c.code)
}

/// The HTTP status of a registered code (500 for an unregistered one: a bug the registry test
/// catches).
pub fn status_of(code: &str) -> u16 {
    index().get(code).map_or(500, |c| c.status)
}

/// The error enum of the node crate.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A request or transaction that was refused; nothing changed.
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// A refused document, with the JSON path of its first problem (EPCIS capture).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        path: String,
    },
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("state: {0}")]
    State(#[from] StateError),
    #[error("configuration: {0}")]
    Config(String),
    /// A chain other than the development chain whose genesis funds or empowers the development
    /// key: its private key is published, so anyone could take the chain over. The node refuses
    /// to start it (before the data directory is touched).
    #[error("genesis: chain {chain_id} is not the development chain, but its genesis names the development key {address} at {}; that key's private key is published (`want dev` prints it), so anyone could spend, administer or read what it holds. Put an address of your own there (`want init --alloc ADDR=AMOUNT --admin ADDR` writes such a genesis), or run a development chain with `want dev` / `want cluster up`", places.join(", "))]
    DevKeyInGenesis {
        chain_id: u64,
        address: want_types::Address,
        /// Where the genesis names it (`allocations[0]`, `trace.admin`, …).
        places: Vec<String>,
    },
    #[error("{0}")]
    Io(String),
    #[error("consensus: {0}")]
    Consensus(#[from] want_consensus::ConsensusError),
    /// A stored blob whose bytes no longer hash to its CID (disk corruption or tampering); the
    /// bytes are never served. Code `blob_tampered`.
    #[error("blob {cid} is damaged: its stored bytes do not hash to its CID (disk corruption or tampering); restore it with a put of the original bytes")]
    BlobTampered { cid: String },
}

impl NodeError {
    pub fn rejected(code: &'static str, message: impl Into<String>) -> NodeError {
        NodeError::Rejected {
            code,
            message: message.into(),
        }
    }

    /// The JSON path of the problem, for refused documents.
    pub fn path(&self) -> Option<&str> {
        match self {
            NodeError::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Rejected { code, .. }
            | NodeError::NotFound { code, .. }
            | NodeError::Invalid { code, .. } => code,
            NodeError::BlobTampered { .. } => want_state::trace::codes::BLOB_TAMPERED,
            NodeError::Consensus(want_consensus::ConsensusError::ShuttingDown) => {
                codes::SHUTTING_DOWN
            }
            _ => codes::INTERNAL,
        }
    }

    /// The HTTP status for this error: the registered status of its code.
    pub fn http_status(&self) -> u16 {
        match self {
            NodeError::Rejected { code, .. } | NodeError::Invalid { code, .. } => status_of(code),
            NodeError::NotFound { .. } => 404,
            NodeError::BlobTampered { .. } => status_of(self.code()),
            NodeError::Consensus(want_consensus::ConsensusError::ShuttingDown) => 503,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_registry_is_unique_with_one_status_each() {
        let registry = registry();
        let seen = want_state::codes::check_registry(registry.iter().map(|(o, c)| (o.as_str(), c)))
            .unwrap();
        // The EPCIS document codes the trace module's capture answers are all registered.
        for code in want_epcis::CODES {
            assert!(
                seen.contains_key(code),
                "EPCIS code {code} is not registered"
            );
        }
        // The node's kernel codes are registered.
        for c in codes::KERNEL {
            assert_eq!(seen.get(c.code), Some(&"node"), "{}", c.code);
        }
    }

    #[test]
    fn errors_answer_the_status_their_code_registered() {
        for (_, c) in registry() {
            let e = NodeError::rejected(c.code, "x");
            assert_eq!(e.http_status(), c.status, "{}", c.code);
        }
        assert_eq!(static_code("no_such_code_anywhere"), codes::INTERNAL);
        assert_eq!(static_code("duplicate_event"), "duplicate_event");
    }
}
