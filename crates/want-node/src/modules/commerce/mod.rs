//! The commerce module's node part: registered so the node builds with the module; it has no
//! routes, metrics or observers yet (the HTTP layer of issue 14 comes later).

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use want_types::ModuleId;

use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::{Node, NodeModule};

/// The commerce module's node part (empty for now).
pub struct CommerceNode;

impl BuildModule for CommerceNode {
    fn build(_ctx: &BuildCtx<'_>) -> Result<CommerceNode, NodeError> {
        Ok(CommerceNode)
    }
}

impl NodeModule for CommerceNode {
    fn id(&self) -> ModuleId {
        ModuleId::Commerce
    }

    fn routes(self: Arc<Self>, _node: &Node) -> OpenApiRouter {
        OpenApiRouter::new()
    }
}
