//! Stable snake_case error codes: the [`ErrorCode`] type every layer lists its codes with, and
//! the kernel's own codes (pre-checks, fees, nonces). Each module lists its codes in its own
//! `codes.rs`; `crate::modules::all_codes` collects the kernel's and every registered module's,
//! and the node adds its own to make the one registry the API answers from.
//!
//! These strings are part of the chain's external interface (wallets and explorers match on
//! them in receipts and API errors): never rename one; add new ones instead.

/// One error code: the string, the HTTP status the API answers it with, and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub doc: &'static str,
}

impl ErrorCode {
    pub const fn new(code: &'static str, status: u16, doc: &'static str) -> ErrorCode {
        ErrorCode { code, status, doc }
    }
}

/// Rejected: the transaction names another chain id.
pub const WRONG_CHAIN_ID: &str = "wrong_chain_id";
/// Rejected: the block's timestamp (at admission: the node's clock) is past the transaction's
/// `expiry_ms`.
pub const EXPIRED: &str = "expired";
/// Rejected: the nonce is not the sender's next nonce (replay, gap or reuse).
pub const BAD_NONCE: &str = "bad_nonce";
/// Refused at admission: the nonce was already used by a committed transaction.
pub const NONCE_TOO_LOW: &str = "nonce_too_low";
/// Rejected: the sender's nonce cannot be incremented any further.
pub const NONCE_EXHAUSTED: &str = "nonce_exhausted";
/// Rejected: the fee is below what the transaction's weight costs and no valid proof-of-work
/// stamp pays for it.
pub const FEE_TOO_LOW: &str = "fee_too_low";
/// Rejected: the sender cannot pay the transaction fee.
pub const INSUFFICIENT_BALANCE_FOR_FEE: &str = "insufficient_balance_for_fee";
/// Failed (or rejected, when charging the fee): an amount would leave the `u128` range.
pub const AMOUNT_OVERFLOW: &str = "amount_overflow";
/// Rejected: the call's module is not active at this height (see the genesis `activations`).
pub const MODULE_INACTIVE: &str = "module_inactive";

/// Refused at admission: the transaction weighs more than a whole block may carry.
pub const TX_TOO_HEAVY: &str = "tx_too_heavy";
/// Failed: a module asked the schedule for an entry it cannot hold (payload too large).
pub const SCHEDULE_REFUSED: &str = "schedule_refused";

/// The kernel's codes.
pub const KERNEL: &[ErrorCode] = &[
    ErrorCode::new(
        WRONG_CHAIN_ID,
        400,
        "the transaction is signed for another chain id",
    ),
    ErrorCode::new(EXPIRED, 400, "the transaction's expiry_ms has passed"),
    ErrorCode::new(BAD_NONCE, 400, "the nonce is not the sender's next nonce"),
    ErrorCode::new(
        NONCE_TOO_LOW,
        400,
        "the nonce was already used by a committed transaction",
    ),
    ErrorCode::new(NONCE_EXHAUSTED, 400, "the sender has used every nonce"),
    ErrorCode::new(
        FEE_TOO_LOW,
        400,
        "the fee is below what the weight costs and no proof-of-work stamp pays for it",
    ),
    ErrorCode::new(
        INSUFFICIENT_BALANCE_FOR_FEE,
        400,
        "the sender cannot pay the transaction fee",
    ),
    ErrorCode::new(AMOUNT_OVERFLOW, 400, "an amount would exceed 128 bits"),
    ErrorCode::new(
        MODULE_INACTIVE,
        400,
        "the call's module is not active at this height",
    ),
    ErrorCode::new(
        TX_TOO_HEAVY,
        413,
        "the transaction weighs more than a block may carry",
    ),
    ErrorCode::new(
        SCHEDULE_REFUSED,
        400,
        "the schedule cannot hold the entry a call asked for",
    ),
];

/// Checks a registry of codes: each defined once, snake_case, with a 4xx or 5xx status and a
/// description. Returns who defines each code.
pub fn check_registry<'a>(
    codes: impl IntoIterator<Item = (&'a str, &'a ErrorCode)>,
) -> Result<std::collections::BTreeMap<&'a str, &'a str>, String> {
    let mut seen = std::collections::BTreeMap::new();
    for (owner, c) in codes {
        if let Some(first) = seen.insert(c.code, owner) {
            return Err(format!("{} is defined by {first} and by {owner}", c.code));
        }
        if !c.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!("{} is not snake_case", c.code));
        }
        if !(400..600).contains(&c.status) {
            return Err(format!("{}: status {} is not 4xx or 5xx", c.code, c.status));
        }
        if c.doc.is_empty() {
            return Err(format!("{} has no description", c.code));
        }
    }
    Ok(seen)
}
