//! Genesis: the initial state, built by each module from its section of the genesis (the token
//! module from the allocations of the whole supply).

use std::collections::BTreeMap;

use serde_json::Value;
use want_types::{Activations, Address, Amount, ChainParams, Hash32, ModuleId};

use crate::kernel::module::GenesisCtx;
use crate::store::Overlay;
use crate::{state_root_step, StateError, WriteSet};

/// Height of the genesis state; its root is `state_root_step(Hash32::ZERO, 0, &write_set)`.
pub const GENESIS_HEIGHT: u64 = 0;

/// What a genesis is made of, in the state machine's terms.
#[derive(Clone, Copy, Debug)]
pub struct GenesisInput<'a> {
    pub params: &'a ChainParams,
    /// Must sum to exactly the total supply (the token module checks).
    pub allocations: &'a [(Address, Amount)],
    /// The modules' sections, by module name (`"trace": {…}`).
    pub sections: &'a BTreeMap<String, Value>,
    pub activations: &'a Activations,
}

/// Checks that every section belongs to a registered module that is active from genesis.
pub fn check_sections(
    sections: &BTreeMap<String, Value>,
    activations: &Activations,
) -> Result<(), StateError> {
    for name in sections.keys() {
        let Some(module) = ModuleId::from_name(name) else {
            let known: Vec<&str> = ModuleId::ALL.iter().map(|m| m.name()).collect();
            return Err(StateError::Genesis {
                section: name.clone(),
                reason: format!(
                    "no module is called {name:?} (modules: {})",
                    known.join(", ")
                ),
            });
        };
        let from = activations.height(module.name());
        if from > GENESIS_HEIGHT {
            return Err(StateError::Genesis {
                section: name.clone(),
                reason: format!(
                    "module {name} is activated at height {from}; a module activated after the genesis starts with empty state and cannot have a genesis section"
                ),
            });
        }
    }
    Ok(())
}

/// Builds the genesis write set and state root: each module active at genesis writes its state
/// from its section, in registration order. Zero allocations store nothing.
pub fn genesis_state(input: &GenesisInput<'_>) -> Result<(WriteSet, Hash32), StateError> {
    check_sections(input.sections, input.activations)?;
    if !input
        .activations
        .active(ModuleId::Token.name(), GENESIS_HEIGHT)
    {
        return Err(StateError::Genesis {
            section: "activations".into(),
            reason: "the token module holds the supply: it is active from the genesis".into(),
        });
    }
    let empty = BTreeMap::new();
    let mut ov = Overlay::new(&empty);
    for m in crate::modules::MODULES {
        if !input.activations.active(m.id.name(), GENESIS_HEIGHT) {
            continue;
        }
        let mut ctx = GenesisCtx {
            state: &mut ov,
            params: input.params,
            allocations: input.allocations,
            section: input.sections.get(m.id.name()),
        };
        crate::modules::genesis(m.id, &mut ctx)?;
    }
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

/// [`genesis_state`] of allocations alone (no module sections, everything active from genesis).
pub fn genesis(
    params: &ChainParams,
    allocations: &[(Address, Amount)],
) -> Result<(WriteSet, Hash32), StateError> {
    genesis_state(&GenesisInput {
        params,
        allocations,
        sections: &BTreeMap::new(),
        activations: &Activations::default(),
    })
}

/// The bytes of the modules' sections in the genesis hash: each non-empty section's
/// `Module::genesis_spec_bytes`, in registration order.
pub fn sections_spec_bytes(sections: &BTreeMap<String, Value>) -> Result<Vec<u8>, StateError> {
    let mut out = Vec::new();
    for m in crate::modules::MODULES {
        if let Some(section) = sections.get(m.id.name()) {
            out.extend(crate::modules::genesis_spec_bytes(m.id, section)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{addr, params};
    use crate::{audit_supply, query, MemState};
    use want_types::amount::TOTAL_SUPPLY;

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
