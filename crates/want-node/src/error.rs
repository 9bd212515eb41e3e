//! The node's error enum and the stable machine-readable codes the API returns.

use want_state::StateError;
use want_storage::StorageError;

/// Stable error codes of the API (`{"error": {"code": …}}`). Never renamed once published.
pub mod codes {
    pub const INVALID_JSON: &str = "invalid_json";
    pub const INVALID_TRANSACTION: &str = "invalid_transaction";
    pub const TX_TOO_LARGE: &str = "tx_too_large";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const WRONG_CHAIN_ID: &str = "wrong_chain_id";
    pub const NONCE_TOO_LOW: &str = "nonce_too_low";
    pub const NONCE_TOO_FAR_AHEAD: &str = "nonce_too_far_ahead";
    pub const NONCE_IN_USE: &str = "nonce_in_use";
    pub const FEE_TOO_LOW: &str = "fee_too_low";
    pub const INSUFFICIENT_BALANCE: &str = "insufficient_balance";
    pub const INSUFFICIENT_ALLOWANCE: &str = "insufficient_allowance";
    pub const AMOUNT_OVERFLOW: &str = "amount_overflow";
    pub const EXPIRED: &str = "expired";
    pub const EXPIRY_TOO_FAR: &str = "expiry_too_far";
    pub const DUPLICATE_TRANSACTION: &str = "duplicate_transaction";
    pub const MEMPOOL_FULL: &str = "mempool_full";
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
    pub const SHUTTING_DOWN: &str = "shutting_down";
    pub const INTERNAL: &str = "internal_error";
    pub const NOT_LEADER: &str = "not_leader";
    pub const NO_LEADER: &str = "no_leader";
    pub const ENVELOPE_REFUSED: &str = "envelope_refused";
    pub const FAULTS_DISABLED: &str = "faults_disabled";
    pub const INVALID_FAULT_PLAN: &str = "invalid_fault_plan";
    pub const INVALID_VOTE: &str = "invalid_vote";
    pub const BAD_VOTE_SIGNATURE: &str = "bad_vote_signature";
    pub const NOT_A_MEMBER: &str = "not_a_member";
    pub const VOTE_TOO_FAR_AHEAD: &str = "vote_too_far_ahead";
    pub const CERTIFICATE_MISSING: &str = "certificate_missing";
    pub const STATE_DIVERGED: &str = "state_diverged";
    pub const BLOB_ACCESS_DENIED: &str = "blob_access_denied";
    pub const BLOB_NOT_FOUND: &str = "blob_not_found";
    pub const BLOB_TAMPERED: &str = "blob_tampered";
    pub const BLOB_TOO_LARGE: &str = "blob_too_large";
    pub const INVALID_CID: &str = "invalid_cid";
    pub const CAPTURE_DISABLED: &str = "capture_disabled";
    pub const CAPTURE_UNAUTHORIZED: &str = "capture_unauthorized";

    /// Every code above (to map codes received from another member back to these).
    pub const ALL: &[&str] = &[
        INVALID_JSON,
        INVALID_TRANSACTION,
        TX_TOO_LARGE,
        BAD_SIGNATURE,
        WRONG_CHAIN_ID,
        NONCE_TOO_LOW,
        NONCE_TOO_FAR_AHEAD,
        NONCE_IN_USE,
        FEE_TOO_LOW,
        INSUFFICIENT_BALANCE,
        INSUFFICIENT_ALLOWANCE,
        AMOUNT_OVERFLOW,
        EXPIRED,
        EXPIRY_TOO_FAR,
        DUPLICATE_TRANSACTION,
        MEMPOOL_FULL,
        BATCH_TOO_LARGE,
        INVALID_ADDRESS,
        INVALID_HASH,
        INVALID_HEIGHT,
        INVALID_QUERY,
        TX_NOT_FOUND,
        BLOCK_NOT_FOUND,
        NOT_FOUND,
        COMMIT_TIMEOUT,
        TX_DROPPED,
        SHUTTING_DOWN,
        INTERNAL,
        NOT_LEADER,
        NO_LEADER,
        ENVELOPE_REFUSED,
        FAULTS_DISABLED,
        INVALID_FAULT_PLAN,
        INVALID_VOTE,
        BAD_VOTE_SIGNATURE,
        NOT_A_MEMBER,
        VOTE_TOO_FAR_AHEAD,
        CERTIFICATE_MISSING,
        STATE_DIVERGED,
        BLOB_ACCESS_DENIED,
        BLOB_NOT_FOUND,
        BLOB_TAMPERED,
        BLOB_TOO_LARGE,
        INVALID_CID,
        CAPTURE_DISABLED,
        CAPTURE_UNAUTHORIZED,
    ];
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
            NodeError::BlobTampered { .. } => codes::BLOB_TAMPERED,
            NodeError::Consensus(want_consensus::ConsensusError::ShuttingDown) => {
                codes::SHUTTING_DOWN
            }
            _ => codes::INTERNAL,
        }
    }

    /// The HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            NodeError::Rejected { code, .. } => match *code {
                codes::TX_TOO_LARGE | codes::BATCH_TOO_LARGE | codes::BLOB_TOO_LARGE => 413,
                codes::DUPLICATE_TRANSACTION | codes::NONCE_IN_USE => 409,
                codes::MEMPOOL_FULL => 429,
                codes::COMMIT_TIMEOUT => 408,
                codes::TX_DROPPED => 410,
                codes::SHUTTING_DOWN | codes::NO_LEADER | codes::NOT_LEADER => 503,
                codes::STATE_DIVERGED => 503,
                codes::ENVELOPE_REFUSED | codes::FAULTS_DISABLED => 403,
                want_state::codes::DUPLICATE_EVENT | want_state::codes::DUPLICATE_BLOB => 409,
                codes::BLOB_ACCESS_DENIED => 403,
                codes::BLOB_TAMPERED => 500,
                codes::CAPTURE_DISABLED => 501,
                codes::CAPTURE_UNAUTHORIZED => 401,
                want_state::codes::NOT_ADMIN
                | want_state::codes::NOT_ORG_KEY
                | want_state::codes::ROLE_NOT_ALLOWED
                | want_state::codes::KEY_REVOKED
                | want_state::codes::UNKNOWN_KEY
                | want_state::codes::NOT_RECORD_OWNER => 403,
                _ => 400,
            },
            NodeError::NotFound { .. } => 404,
            NodeError::Invalid { code, .. } => match *code {
                "too_large" | "too_many_events" => 413,
                want_state::codes::DUPLICATE_EVENT => 409,
                want_state::codes::NOT_ORG_KEY
                | want_state::codes::ROLE_NOT_ALLOWED
                | want_state::codes::KEY_REVOKED
                | want_state::codes::UNKNOWN_KEY => 403,
                _ => 400,
            },
            NodeError::Consensus(want_consensus::ConsensusError::ShuttingDown) => 503,
            _ => 500,
        }
    }
}
