//! The kernel of the state machine: what is the same for every transaction whatever its module
//! — accounts and nonces, weights and fees, the block and its end-of-block work, admission,
//! genesis, the schedule — and the module contract it drives.

pub mod accounts;
pub mod block;
pub mod context;
pub mod fees;
pub mod genesis;
pub mod module;
pub mod schedule;
