//! The WANT chain node: a kernel (admission, mempool, block production, execution of committed blocks, consensus wiring) that runs every module's node part, and the HTTP API.
//!
//! See `docs/ARCHITECTURE.md` for the crate map and the path of one transaction, and
//! `docs/MODULES.md` for how a module's node part is registered.

pub mod api;
pub mod config;
pub mod error;
/// Test-only input strategies, shared with want-types.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../want-types/src/fuzz_inputs.rs"]
mod fuzz_inputs;
pub mod kernel;
pub mod metrics;
pub mod modules;

pub use config::{Genesis, NodeConfig};
pub use error::NodeError;
pub use kernel::node::{now_ms, Node};
pub use kernel::startup::{
    bind_http, check_genesis_owner, load_or_create_node_key, read_secret_file, write_secret_file,
};
/// The modules' node parts, at the crate root as in the other crates.
pub use modules::{token, trace};
