//! Genesis: the initial allocation of the whole supply.

use want_types::amount::TOTAL_SUPPLY;
use want_types::{Address, Amount, ChainParams, Hash32};

use crate::store::Overlay;
use crate::token::state::{balance, set_balance, SUPPLY_KEY};
use crate::trace::state as tst;
use crate::trace::TraceGenesis;
use crate::{state_root_step, StateError, WriteSet};

fn trace_err(reason: String) -> StateError {
    StateError::GenesisTrace { reason }
}

fn write_trace_genesis(ov: &mut Overlay<'_>, trace: &TraceGenesis) -> Result<(), StateError> {
    if let Some(admin) = &trace.admin {
        tst::put(ov, tst::ADMIN_KEY.to_vec(), admin);
    }
    for o in &trace.orgs {
        if !want_types::trace::is_valid_org_id(&o.org) {
            return Err(trace_err(format!(
                "org id {:?} is not 1-64 bytes of [a-z0-9._-]",
                o.org
            )));
        }
        if tst::org(ov, &o.org)?.is_some() {
            return Err(trace_err(format!("org {:?} is listed twice", o.org)));
        }
        if o.encryption_key.len() != want_types::trace::PUBLIC_KEY_BYTES {
            return Err(trace_err(format!(
                "org {:?}: encryption_key must be a 33-byte compressed secp256k1 key",
                o.org
            )));
        }
        tst::put(
            ov,
            tst::org_key(&o.org),
            &tst::OrgInfo {
                name: o.name.clone(),
                kind: o.kind,
                encryption_key: o.encryption_key.clone(),
                registered_at: GENESIS_HEIGHT,
            },
        );
        for (key, department, roles) in &o.keys {
            if tst::key(ov, key)?.is_some() {
                return Err(trace_err(format!("key {key} is listed twice")));
            }
            tst::put(
                ov,
                tst::key_key(key),
                &tst::KeyInfo {
                    org: o.org.clone(),
                    department: department.clone(),
                    roles: roles.clone(),
                    added_at: GENESIS_HEIGHT,
                    revoked_at: None,
                },
            );
            ov.put(tst::org_keys_key(&o.org, key), Vec::new());
        }
    }
    Ok(())
}

/// Height of the genesis state; its root is `state_root_step(Hash32::ZERO, 0, &write_set)`.
pub const GENESIS_HEIGHT: u64 = 0;

/// Builds the genesis write set and state root from allocations that must sum to exactly
/// [`TOTAL_SUPPLY`]. An address listed more than once receives the sum of its entries; zero
/// allocations store nothing. The parameters are accepted for future modules (the incentive pool
/// may receive an allocation like any account) and are not stored.
pub fn genesis(
    params: &ChainParams,
    allocations: &[(Address, Amount)],
) -> Result<(WriteSet, Hash32), StateError> {
    genesis_with_trace(params, allocations, &TraceGenesis::default())
}

/// [`genesis`] plus the trace administrator and the organisations (with their keys) registered
/// from the start. An empty [`TraceGenesis`] gives exactly [`genesis`]'s write set.
pub fn genesis_with_trace(
    _params: &ChainParams,
    allocations: &[(Address, Amount)],
    trace: &TraceGenesis,
) -> Result<(WriteSet, Hash32), StateError> {
    let mut allocated: Amount = 0;
    for (_, amount) in allocations {
        allocated = allocated
            .checked_add(*amount)
            .ok_or(StateError::GenesisOverflow)?;
    }
    if allocated != TOTAL_SUPPLY {
        return Err(StateError::GenesisSupply {
            allocated,
            expected: TOTAL_SUPPLY,
        });
    }
    let empty = std::collections::BTreeMap::new();
    let mut ov = Overlay::new(&empty);
    for (addr, amount) in allocations {
        // Cannot overflow: the sum of all allocations fits (checked above).
        let sum = balance(&ov, addr)?
            .checked_add(*amount)
            .ok_or(StateError::GenesisOverflow)?;
        set_balance(&mut ov, addr, sum);
    }
    ov.put(SUPPLY_KEY.to_vec(), TOTAL_SUPPLY.to_be_bytes().to_vec());
    write_trace_genesis(&mut ov, trace)?;
    // Drop deletes of never-written keys (zero allocations): genesis holds only puts.
    let ws = WriteSet(
        ov.into_changes()
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .collect(),
    );
    let root = state_root_step(Hash32::ZERO, GENESIS_HEIGHT, &ws);
    Ok((ws, root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{addr, params};
    use crate::{audit_supply, query, MemState};

    #[test]
    fn genesis_allocates_the_whole_supply_and_records_it() {
        let p = params();
        let allocs = [(addr(1), 10), (addr(2), TOTAL_SUPPLY - 10)];
        let (ws, root) = genesis(&p, &allocs).unwrap();
        let mut ms = MemState::new();
        ms.apply(&ws);
        assert_eq!(query::balance(&ms, &addr(1)).unwrap(), 10);
        assert_eq!(query::balance(&ms, &addr(2)).unwrap(), TOTAL_SUPPLY - 10);
        assert_eq!(query::total_supply(&ms).unwrap(), TOTAL_SUPPLY);
        assert_eq!(query::burned(&ms).unwrap(), 0);
        assert_eq!(root, state_root_step(Hash32::ZERO, 0, &ws));
        assert!(audit_supply(&ms).unwrap().holds());
    }

    #[test]
    fn allocations_short_of_or_above_total_supply_are_refused() {
        let p = params();
        assert_eq!(
            genesis(&p, &[(addr(1), TOTAL_SUPPLY - 1)]).unwrap_err(),
            StateError::GenesisSupply {
                allocated: TOTAL_SUPPLY - 1,
                expected: TOTAL_SUPPLY
            }
        );
        assert!(matches!(
            genesis(&p, &[(addr(1), TOTAL_SUPPLY), (addr(2), 1)]),
            Err(StateError::GenesisSupply { .. })
        ));
        assert!(matches!(
            genesis(&p, &[]),
            Err(StateError::GenesisSupply { .. })
        ));
    }

    #[test]
    fn allocations_overflowing_u128_are_refused() {
        let p = params();
        assert_eq!(
            genesis(&p, &[(addr(1), u128::MAX), (addr(2), 2)]).unwrap_err(),
            StateError::GenesisOverflow
        );
    }

    #[test]
    fn repeated_address_receives_the_sum_and_zero_allocations_store_nothing() {
        let p = params();
        let allocs = [(addr(1), 5), (addr(3), 0), (addr(1), TOTAL_SUPPLY - 5)];
        let (ws, _) = genesis(&p, &allocs).unwrap();
        let mut ms = MemState::new();
        ms.apply(&ws);
        assert_eq!(query::balance(&ms, &addr(1)).unwrap(), TOTAL_SUPPLY);
        assert_eq!(ws.len(), 2, "one balance and the supply: {ws:?}");
    }

    #[test]
    fn genesis_is_deterministic_regardless_of_allocation_order() {
        let p = params();
        let a = genesis(&p, &[(addr(1), 1), (addr(2), TOTAL_SUPPLY - 1)]).unwrap();
        let b = genesis(&p, &[(addr(2), TOTAL_SUPPLY - 1), (addr(1), 1)]).unwrap();
        assert_eq!(a, b);
    }
}
