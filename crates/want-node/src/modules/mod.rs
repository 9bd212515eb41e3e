//! The modules' node parts and their one registration each.
//!
//! `register_node_modules!` declares each node part's folder and builds the parts at start. Its
//! `match` over `want_types::ModuleId` is exhaustive: a module registered in `want_types` whose
//! node part is missing here fails the build.

use std::sync::Arc;

use want_types::ModuleId;

use crate::error::NodeError;
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::NodeModule;

macro_rules! register_node_modules {
    ($( $(#[$attr:meta])* $Variant:ident => $name:ident :: $Part:ident ),* $(,)?) => {
        $( $(#[$attr])* pub mod $name; )*

        /// Builds the node part of module `id`.
        pub fn build(id: ModuleId, ctx: &BuildCtx<'_>) -> Result<Arc<dyn NodeModule>, NodeError> {
            Ok(match id {
                $( $(#[$attr])* ModuleId::$Variant => Arc::new(<$name::$Part as BuildModule>::build(ctx)?), )*
            })
        }
    };
}

// The registry: one line per module.
register_node_modules! {
    Token => token::TokenNode,
    Trace => trace::TraceNode,
    Commerce => commerce::CommerceNode,
    Credit => credit::CreditNode,
    #[cfg(feature = "example-module")]
    Example => example::ExampleNode,
}

/// Every module's node part, in wire-index order.
pub fn build_all(ctx: &BuildCtx<'_>) -> Result<Vec<Arc<dyn NodeModule>>, NodeError> {
    let parts = ModuleId::ALL
        .iter()
        .map(|id| build(*id, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    for (id, part) in ModuleId::ALL.iter().zip(&parts) {
        if part.id() != *id {
            return Err(NodeError::Config(format!(
                "the node part registered for module {} says it is {}",
                id.name(),
                part.id().name()
            )));
        }
    }
    Ok(parts)
}
