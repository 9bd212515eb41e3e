//! How execution steps report a transaction-level failure versus a state-machine error.

use crate::{codes, StateError};

/// A transaction-level failure: becomes `Rejected` or `Failed` in the receipt, or a refusal at
/// admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFailure {
    /// A code of [`crate::modules::all_codes`].
    pub code: &'static str,
    pub message: String,
}

/// Outcome of an execution step that did not succeed.
#[derive(Debug)]
pub enum ExecError {
    /// The transaction fails; the block goes on.
    Tx(TxFailure),
    /// Storage or decoding failed; the block cannot be applied.
    State(StateError),
}

impl From<StateError> for ExecError {
    fn from(e: StateError) -> Self {
        ExecError::State(e)
    }
}

/// A transaction-level failure with `code`.
pub fn fail(code: &'static str, message: impl Into<String>) -> ExecError {
    ExecError::Tx(TxFailure {
        code,
        message: message.into(),
    })
}

/// An `amount_overflow` failure naming what overflowed.
pub fn overflow(what: &str) -> ExecError {
    fail(
        codes::AMOUNT_OVERFLOW,
        format!("{what} does not fit in 128 bits"),
    )
}
