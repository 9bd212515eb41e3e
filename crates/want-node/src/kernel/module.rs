//! A module's node part: what a business system adds to the node besides its state-machine
//! module — its HTTP routes (all behind the divergence guard: the kernel wraps them), its
//! metrics under its prefix (`want_<name>_…`), its stateless admission checks and its
//! background work (commit observers subscribe to committed blocks with
//! [`Node::subscribe_commits`]). See `docs/MODULES.md`.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};
use utoipa_axum::router::OpenApiRouter;
use want_types::{Call, ModuleId};

use crate::config::{Genesis, NodeConfig};
use crate::error::NodeError;
use crate::kernel::node::Node;

/// What a module's node part is built from at start.
pub struct BuildCtx<'a> {
    pub cfg: &'a NodeConfig,
    pub genesis: &'a Genesis,
}

/// Builds a module's node part (the registry of `modules/mod.rs` calls it).
pub trait BuildModule: NodeModule + Sized {
    fn build(ctx: &BuildCtx<'_>) -> Result<Self, NodeError>;
}

/// A module's node part as `Any`, to reach its own services from outside it (tests, tools).
pub trait AsAny {
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

impl<T: std::any::Any + Send + Sync> AsAny for T {
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// The node part of a module.
pub trait NodeModule: AsAny + Send + Sync + 'static {
    /// Its entry in the wire registry.
    fn id(&self) -> ModuleId;

    /// Checks at admission that need what the state machine lacks (secp256k1, for example); the
    /// state machine's own rules run in `want_state::admit`.
    fn precheck(&self, _call: &Call) -> Result<(), NodeError> {
        Ok(())
    }

    /// Registers its metrics in `registry`, whose names are prefixed `want_<name>_`.
    fn register_metrics(&self, _registry: &mut Registry) {}

    /// Its routes, with their OpenAPI description. The kernel puts every one behind the
    /// divergence guard: a node whose state diverged from the majority answers
    /// `503 state_diverged` instead of serving the module's state.
    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter;

    /// Starts its background work (called once, after consensus started).
    fn start(self: Arc<Self>, _node: &Node, _shutdown: watch::Receiver<bool>) {}
}

impl Node {
    /// The height of every block committed from now on, in order: what commit observers (blob
    /// repair, indexers) follow. An observer that falls behind gets `Lagged` and reads the
    /// blocks it missed from storage.
    pub fn subscribe_commits(&self) -> broadcast::Receiver<u64> {
        self.shared.blocks.subscribe()
    }

    /// The node part of a module, if registered (to reach a module's own services).
    pub fn module(&self, id: ModuleId) -> Option<&Arc<dyn NodeModule>> {
        self.shared.modules.iter().find(|m| m.id() == id)
    }
}
