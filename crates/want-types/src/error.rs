//! The error enum of this crate.

/// Everything that can go wrong while parsing or decoding primitive values.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TypesError {
    #[error("invalid address {input:?}: {reason}; expected a TRON base58check address starting with 'T' (34 characters) or 42 hex digits starting with 41")]
    InvalidAddress { input: String, reason: &'static str },
    #[error("invalid amount {input:?}: {reason}")]
    InvalidAmount { input: String, reason: &'static str },
    #[error("invalid hash {input:?}: expected 64 hex digits")]
    InvalidHash { input: String },
    #[error("could not decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
}
