//! Building a module's node part at start (the contract itself, [`NodeModule`], is beside the
//! node it is given, in `node.rs`). See `docs/MODULES.md`.

use crate::config::{Genesis, NodeConfig};
use crate::error::NodeError;
use crate::kernel::node::NodeModule;

/// What a module's node part is built from at start.
pub struct BuildCtx<'a> {
    pub cfg: &'a NodeConfig,
    pub genesis: &'a Genesis,
}

/// Builds a module's node part (the registry of `modules/mod.rs` calls it).
pub trait BuildModule: NodeModule + Sized {
    fn build(ctx: &BuildCtx<'_>) -> Result<Self, NodeError>;
}
