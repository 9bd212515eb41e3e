//! The accounts module: per-sender transaction nonces (replay protection).

pub mod state;
