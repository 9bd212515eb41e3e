//! What the state machine knows of the block it applies: its height, its time (the only clock
//! the state machine sees), the chain's parameters and activations.

use want_types::{Activations, ChainParams, ModuleId};

/// What the state machine knows about the block being applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    /// The block header's timestamp: the only clock the state machine sees.
    pub timestamp_ms: u64,
    pub params: ChainParams,
    /// From which heights modules and rules apply.
    pub activations: Activations,
}

impl BlockContext {
    /// Whether the module applies in this block.
    pub fn module_active(&self, module: ModuleId) -> bool {
        self.activations.active(module.name(), self.height)
    }
}
