//! The token module's error codes.

use crate::codes::ErrorCode;

/// Failed (refused at admission): the paying account holds less than the call moves (amount
/// plus transfer fee; at admission, plus the fee and what the sender has pending).
pub const INSUFFICIENT_BALANCE: &str = "insufficient_balance";
/// Failed: the spender's allowance is below amount plus transfer fee.
pub const INSUFFICIENT_ALLOWANCE: &str = "insufficient_allowance";

pub const CODES: &[ErrorCode] = &[
    ErrorCode::new(
        INSUFFICIENT_BALANCE,
        400,
        "the paying account holds less than the call moves (amount, transfer fee and fee)",
    ),
    ErrorCode::new(
        INSUFFICIENT_ALLOWANCE,
        400,
        "the spender's allowance is below the amount plus the transfer fee",
    ),
];
