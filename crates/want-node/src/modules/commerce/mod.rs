//! The commerce module's node part: read routes for shops, offers, orders and purchase records
//! under `/v1/commerce/…` ([`api`]). It keeps nothing of its own and observes no commits; its
//! transactions go through the kernel's `/v1/transactions`.

pub mod api;
pub mod price_api;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use want_types::ModuleId;

use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::{Node, NodeModule};

/// The commerce module's node part.
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

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        api::routes(node).merge(price_api::routes(node))
    }
}
