//! The WANT chain node: configuration, mempool, block production, execution of committed blocks, and the HTTP API.
//!
//! See `docs/ARCHITECTURE.md` for the path of one transaction through these parts.

pub mod api;
pub mod api_trace;
pub mod blob_repair;
pub mod blobs;
pub mod capture;
pub mod certs;
pub mod cluster;
pub mod config;
pub mod error;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod openapi;
pub mod sync;
pub mod trace;

pub use config::{Genesis, NodeConfig};
pub use error::NodeError;
pub use node::{load_or_create_node_key, Node};
