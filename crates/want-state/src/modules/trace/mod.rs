//! The trace module: organisations and department keys with roles, KYC attestations, record
//! anchors with per-product running hashes, and access grants (§4.1, §4.6, §4.8.3).
//!
//! Record detail never enters state: only its hash `H(M_i, Sig_i)`, the CID of its sealed blob,
//! the wrapped record key and the public fields. See [`state`] for the key layout and [`query`]
//! for the reads the node serves.

pub mod codes;
pub(crate) mod exec;
pub mod genesis;
pub mod query;
pub mod state;

use serde_json::Value;
use want_types::trace::TraceCall;
use want_types::ModuleId;

use crate::codes::ErrorCode;
use crate::failure::ExecError;
use crate::kernel::module::{CallCtx, GenesisCtx, Module};
use crate::StateError;

pub use exec::EVENT_TYPES;
pub use genesis::{GenesisOrg, GenesisOrgKey, TraceGenesis};

/// Weight of a registry call (organisation, key, KYC, grant): a few small entries.
pub const REGISTRY_CALL_WEIGHT: u64 = 20_000;
/// Weight of an anchor call beyond its records.
pub const ANCHOR_WEIGHT: u64 = 17_000;
/// Weight of each anchored record: the record, its products list, CID and three indexes.
pub const RECORD_WEIGHT: u64 = 60_000;
/// Weight of each product a record names: its running anchor read and rewritten.
pub const PRODUCT_WEIGHT: u64 = 5_500;

/// The trace module.
pub struct Trace;

impl Module for Trace {
    const ID: ModuleId = ModuleId::Trace;
    type Call = TraceCall;

    fn codes() -> &'static [ErrorCode] {
        codes::CODES
    }

    fn execute(ctx: &mut CallCtx<'_, '_>, call: &TraceCall) -> Result<(), ExecError> {
        exec::execute(ctx, call)
    }

    fn weight(call: &TraceCall) -> u64 {
        match call {
            TraceCall::Anchor { records, .. } => {
                let products: u64 = records
                    .iter()
                    .map(|r| r.public.products.len() as u64)
                    .fold(0u64, u64::saturating_add);
                ANCHOR_WEIGHT
                    .saturating_add((records.len() as u64).saturating_mul(RECORD_WEIGHT))
                    .saturating_add(products.saturating_mul(PRODUCT_WEIGHT))
            }
            TraceCall::RegisterOrg { .. }
            | TraceCall::AddKey { .. }
            | TraceCall::RevokeKey { .. }
            | TraceCall::SubmitKyc { .. }
            | TraceCall::AttestKyc { .. }
            | TraceCall::Grant { .. }
            | TraceCall::RevokeGrant { .. }
            | TraceCall::RegisterPrefix { .. }
            | TraceCall::AuthorizeParty { .. }
            | TraceCall::WithdrawParty { .. }
            | TraceCall::DeclareError { .. } => REGISTRY_CALL_WEIGHT,
            TraceCall::HandOver { products, .. } => REGISTRY_CALL_WEIGHT
                .saturating_add((products.len() as u64).saturating_mul(PRODUCT_WEIGHT)),
        }
    }

    fn genesis(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
        genesis::write(ctx)
    }

    /// `borsh(TraceGenesis)`, as genesis hashes always encoded the section (an empty one adds
    /// nothing).
    fn genesis_spec_bytes(section: &Value) -> Result<Vec<u8>, StateError> {
        let trace = genesis::parse(Some(section))?;
        if trace.is_empty() {
            return Ok(Vec::new());
        }
        Ok(borsh::to_vec(&trace).expect("invariant: borsh encoding into a Vec cannot fail"))
    }
}

#[cfg(test)]
mod tests;
