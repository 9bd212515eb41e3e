//! Stable snake_case codes of rejected and failed transactions, as they appear in receipts.
//!
//! These strings are part of the chain's external interface (wallets and explorers match on
//! them): never rename one; add new ones instead.

/// Rejected: the transaction names another chain id.
pub const WRONG_CHAIN_ID: &str = "wrong_chain_id";
/// Rejected: the block's timestamp is past the transaction's `expiry_ms`.
pub const EXPIRED: &str = "expired";
/// Rejected: the nonce is not the sender's next nonce (replay, gap or reuse).
pub const BAD_NONCE: &str = "bad_nonce";
/// Rejected: the sender's nonce cannot be incremented any further.
pub const NONCE_EXHAUSTED: &str = "nonce_exhausted";
/// Rejected: the fee is below the minimum and the id carries no valid proof-of-work stamp.
pub const FEE_TOO_LOW: &str = "fee_too_low";
/// Rejected: the sender cannot pay the transaction fee.
pub const INSUFFICIENT_BALANCE_FOR_FEE: &str = "insufficient_balance_for_fee";
/// Failed: the paying account holds less than the call moves (amount plus transfer fee).
pub const INSUFFICIENT_BALANCE: &str = "insufficient_balance";
/// Failed: the spender's allowance is below amount plus transfer fee.
pub const INSUFFICIENT_ALLOWANCE: &str = "insufficient_allowance";
/// Failed (or rejected, when charging the fee): an amount would leave the `u128` range.
pub const AMOUNT_OVERFLOW: &str = "amount_overflow";

/// Every code, for documentation and for tests that check codes are unique and snake_case.
pub const ALL: &[&str] = &[
    WRONG_CHAIN_ID,
    EXPIRED,
    BAD_NONCE,
    NONCE_EXHAUSTED,
    FEE_TOO_LOW,
    INSUFFICIENT_BALANCE_FOR_FEE,
    INSUFFICIENT_BALANCE,
    INSUFFICIENT_ALLOWANCE,
    AMOUNT_OVERFLOW,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ALL {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is not snake_case"
            );
        }
    }
}
