//! Traceability on the node: admission checks of trace calls, and (with the blob store) the
//! capture, query, lineage and verification services behind the `/v1/trace` and `/v1/epcis` API.

use want_state::{BlockContext, StateView};
use want_types::{Address, ChainParams, Hash32, TraceCall};

use crate::error::NodeError;

/// Refuses at admission a trace call that would fail if executed now (wrong role, revoked key,
/// other organisation, event already captured…), so its sender pays no fee for it. Execution
/// checks again: state may change before the block.
pub fn precheck_call(
    view: &dyn StateView,
    params: &ChainParams,
    now_ms: u64,
    id: &Hash32,
    sender: &Address,
    call: &TraceCall,
) -> Result<(), NodeError> {
    let ctx = BlockContext {
        height: u64::MAX,
        timestamp_ms: now_ms,
        params: params.clone(),
    };
    let call = want_types::Call::Trace(call.clone());
    match want_state::dry_run_call(view, &ctx, id, sender, &call)? {
        Ok(()) => Ok(()),
        Err((code, message)) => Err(NodeError::rejected(code, message)),
    }
}
