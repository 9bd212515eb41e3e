//! The trace module: organisations and department keys with roles, KYC attestations, record
//! anchors with per-product running hashes, and access grants (§4.1, §4.6, §4.8.3).
//!
//! Record detail never enters state: only its hash `H(M_i, Sig_i)`, the CID of its sealed blob,
//! the wrapped record key and the public fields. See [`state`] for the key layout.

pub(crate) mod exec;
pub mod state;

use want_types::trace::{OrgKind, Role};
use want_types::Address;

pub use exec::EVENT_TYPES;

/// The trace part of a genesis: the administrator and organisations registered from the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceGenesis {
    pub admin: Option<Address>,
    pub orgs: Vec<GenesisOrg>,
}

/// An organisation registered at genesis, with its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisOrg {
    pub org: String,
    pub name: String,
    pub kind: OrgKind,
    pub encryption_key: Vec<u8>,
    pub keys: Vec<(Address, String, Vec<Role>)>,
}
#[cfg(test)]
mod tests;
