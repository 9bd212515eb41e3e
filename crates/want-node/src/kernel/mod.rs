//! The node's kernel: what every module shares — admission and the mempool with its journal,
//! block production, execution of committed blocks, start-up, the cluster's forwarding and RPC,
//! catching up, commit certificates, the chain's activations — and the module contract of the
//! node ([`module::NodeModule`]).

pub mod activations;
pub mod admission;
pub mod applier;
pub mod certs;
pub mod checked;
pub mod disk;
pub mod execution;
pub mod forward;
pub mod journal;
pub mod member_client;
pub mod mempool;
pub mod module;
pub mod node;
pub mod production;
pub mod reads;
pub mod rpc;
pub mod startup;
pub mod sync;
pub mod votes;
