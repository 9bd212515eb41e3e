//! The trace module's genesis section (`"trace"` in a genesis file): the administrator and the
//! organisations, with their department keys, registered from the start.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use want_types::trace::{OrgKind, Role, PUBLIC_KEY_BYTES};
use want_types::Address;

use super::state as st;
use crate::kernel::genesis::GENESIS_HEIGHT;
use crate::kernel::module::GenesisCtx;
use crate::StateError;

/// The `"trace"` section of a genesis.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(deny_unknown_fields)]
pub struct TraceGenesis {
    /// The account that registers organisations and their keys.
    #[serde(default)]
    pub admin: Option<Address>,
    #[serde(default)]
    pub orgs: Vec<GenesisOrg>,
}

impl TraceGenesis {
    pub fn is_empty(&self) -> bool {
        self.admin.is_none() && self.orgs.is_empty()
    }
}

/// An organisation registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrg {
    pub org: String,
    pub name: String,
    pub kind: OrgKind,
    /// Compressed secp256k1 public key (66 hex digits) record keys are wrapped to.
    pub encryption_key: String,
    #[serde(default)]
    pub keys: Vec<GenesisOrgKey>,
}

/// A department key registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrgKey {
    pub address: Address,
    pub department: String,
    pub roles: Vec<Role>,
}

fn invalid(reason: String) -> StateError {
    StateError::Genesis {
        section: "trace".into(),
        reason,
    }
}

/// Parses the section (absent: empty).
pub fn parse(section: Option<&serde_json::Value>) -> Result<TraceGenesis, StateError> {
    match section {
        None => Ok(TraceGenesis::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string())),
    }
}

/// Writes the administrator, the organisations and their keys.
pub(crate) fn write(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
    let trace = parse(ctx.section)?;
    let ov = &mut *ctx.state;
    if let Some(admin) = &trace.admin {
        st::put(ov, st::ADMIN_KEY.to_vec(), admin);
    }
    for (i, o) in trace.orgs.iter().enumerate() {
        if !want_types::trace::is_valid_org_id(&o.org) {
            return Err(invalid(format!(
                "orgs[{i}].org {:?} is not 1-64 bytes of [a-z0-9._-]",
                o.org
            )));
        }
        if st::org(&*ov, &o.org)?.is_some() {
            return Err(invalid(format!("org {:?} is listed twice", o.org)));
        }
        let encryption_key = hex::decode(&o.encryption_key)
            .ok()
            .filter(|k| k.len() == PUBLIC_KEY_BYTES)
            .ok_or_else(|| {
                invalid(format!(
                    "orgs[{i}].encryption_key is not 66 hex digits (a compressed secp256k1 public key)"
                ))
            })?;
        st::put(
            ov,
            st::org_key(&o.org),
            &st::OrgInfo {
                name: o.name.clone(),
                kind: o.kind,
                encryption_key,
                registered_at: GENESIS_HEIGHT,
            },
        );
        for k in &o.keys {
            if st::key(&*ov, &k.address)?.is_some() {
                return Err(invalid(format!("key {} is listed twice", k.address)));
            }
            st::put(
                ov,
                st::key_key(&k.address),
                &st::KeyInfo {
                    org: o.org.clone(),
                    department: k.department.clone(),
                    roles: k.roles.clone(),
                    added_at: GENESIS_HEIGHT,
                    revoked_at: None,
                },
            );
            ov.put(st::org_keys_key(&o.org, &k.address), Vec::new());
        }
    }
    Ok(())
}
