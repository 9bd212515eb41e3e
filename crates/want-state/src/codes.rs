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

/// Failed: only the trace administrator (or the organisation's manager key) may do this.
pub const NOT_ADMIN: &str = "not_admin";
/// Failed: the organisation is not registered.
pub const UNKNOWN_ORG: &str = "unknown_org";
/// Failed: the organisation id is taken.
pub const ORG_EXISTS: &str = "org_exists";
/// Failed: the key is already registered (keys are never reused).
pub const KEY_EXISTS: &str = "key_exists";
/// Failed: the signer or named key is not a registered department key.
pub const UNKNOWN_KEY: &str = "unknown_key";
/// Failed: the key was revoked.
pub const KEY_REVOKED: &str = "key_revoked";
/// Failed: the signing key belongs to another organisation.
pub const NOT_ORG_KEY: &str = "not_org_key";
/// Failed: the key's roles do not allow this record or action.
pub const ROLE_NOT_ALLOWED: &str = "role_not_allowed";
/// Failed: the event (by its EPCIS event hash ID) is already captured.
pub const DUPLICATE_EVENT: &str = "duplicate_event";
/// Failed: the blob (by CID) is already anchored or filed.
pub const DUPLICATE_BLOB: &str = "duplicate_blob";
/// Failed: a field of a trace call is malformed or out of bounds (the message names it).
pub const INVALID_TRACE_CALL: &str = "invalid_trace_call";
/// Failed: no such record.
pub const UNKNOWN_RECORD: &str = "unknown_record";
/// Failed: only keys of the record's owning organisation may grant or revoke access.
pub const NOT_RECORD_OWNER: &str = "not_record_owner";
/// Failed: the grant would already be expired.
pub const GRANT_EXPIRED: &str = "grant_expired";
/// Failed: no such grant.
pub const UNKNOWN_GRANT: &str = "unknown_grant";
/// Failed: the named verifier is not an active KYC verifier key.
pub const NOT_KYC_VERIFIER: &str = "not_kyc_verifier";

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
    NOT_ADMIN,
    UNKNOWN_ORG,
    ORG_EXISTS,
    KEY_EXISTS,
    UNKNOWN_KEY,
    KEY_REVOKED,
    NOT_ORG_KEY,
    ROLE_NOT_ALLOWED,
    DUPLICATE_EVENT,
    DUPLICATE_BLOB,
    INVALID_TRACE_CALL,
    UNKNOWN_RECORD,
    NOT_RECORD_OWNER,
    GRANT_EXPIRED,
    UNKNOWN_GRANT,
    NOT_KYC_VERIFIER,
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
