//! The chain's activations: from which height each module and rule applies. They are recorded
//! in the database when the genesis is written, and at every start the genesis file is checked
//! against the record, so a running chain gains a module or a rule at a future height without
//! any past block changing meaning.

use want_storage::Store;
use want_types::params::{
    RULE_BLOCK_PRECHECKS, RULE_FEE_WEIGHTS, RULE_TRACE_RECORD_IDS, RULE_TRACE_WRITERS,
};
use want_types::{Activations, ModuleId};

use crate::config::Genesis;
use crate::error::NodeError;

/// Every name an activation may have: the registered modules and the kernel's rules.
pub fn known_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ModuleId::ALL.iter().map(|m| m.name()).collect();
    names.push(RULE_FEE_WEIGHTS);
    names.push(RULE_TRACE_WRITERS);
    names.push(RULE_TRACE_RECORD_IDS);
    names.push(RULE_BLOCK_PRECHECKS);
    names
}

/// What chains of storage format 3 (before activations were recorded) already had from their
/// genesis: the token and trace modules.
const IN_FORMAT_3: &[&str] = &["token", "trace"];

/// The activations this node runs with: the genesis file's explicit entries, else those the
/// database recorded, else the genesis (height 0). Refuses:
/// - a name that is neither a module nor a rule;
/// - an explicit entry that differs from the recorded one when the chain has passed either
///   height (it would change the meaning of past blocks);
/// - on a database migrated from format 3 (no record), a module or rule the chain did not have
///   whose activation the chain has passed — on a single-member chain it is scheduled at the
///   next block instead (nobody can disagree), and the node says so.
///
/// The result is recorded, every known name explicit.
pub fn reconcile_activations(store: &Store, genesis: &Genesis) -> Result<Activations, NodeError> {
    let known = known_names();
    for name in genesis.activations.0.keys() {
        if !known.contains(&name.as_str()) {
            return Err(NodeError::Config(format!(
                "genesis.activations.{name} names no module or rule (known: {})",
                known.join(", ")
            )));
        }
    }
    let head = store.head()?.height;
    let recorded = store.activations()?;
    let single_member = genesis.members.is_empty();
    let mut effective = Activations::default();
    for name in &known {
        let explicit = genesis.activations.0.get(*name).copied();
        // A name the record lacks is one added since the chain recorded its activations: it is
        // treated as on a chain migrated from format 3 (it never applied to a past block).
        let was_recorded = recorded.as_ref().and_then(|rec| rec.0.get(*name).copied());
        let height = match was_recorded {
            Some(was) => match explicit {
                Some(now) if now != was && now.min(was) <= head => {
                    return Err(NodeError::Config(format!(
                            "genesis.activations.{name} is {now}, but this chain recorded {was} and is already at height {head}: the change would alter blocks it has applied; set it back to {was} (only activations above the head may change)"
                        )));
                }
                Some(now) => now,
                None => was,
            },
            // Migrated from format 3: the chain ran without anything it did not have then.
            None if head == 0 || (recorded.is_none() && IN_FORMAT_3.contains(name)) => {
                let h = explicit.unwrap_or(0);
                if head > 0 && h > 0 && h <= head {
                    return Err(NodeError::Config(format!(
                        "genesis.activations.{name} is {h}, but this chain has always had {name} and is at height {head}; remove the entry"
                    )));
                }
                h
            }
            None => match explicit {
                Some(h) if h > head => h,
                Some(h) => {
                    return Err(NodeError::Config(format!(
                        "genesis.activations.{name} is {h}, but this chain (migrated from an older version) reached height {head} without {name}; set it to a height above {head}, the same on every member"
                    )));
                }
                None if single_member => {
                    let h = head + 1;
                    tracing::warn!(target: "node", "this chain reached height {head} without {name}; it applies from height {h} (recorded; on a cluster, every member's genesis.json needs \"activations\": {{\"{name}\": H}})");
                    h
                }
                None => {
                    return Err(NodeError::Config(format!(
                        "this chain (migrated from an older version) reached height {head} without {name}; add \"activations\": {{\"{name}\": H}} to genesis.json with the same H above {head} on every member, then start again"
                    )));
                }
            },
        };
        effective.0.insert(name.to_string(), height);
    }
    if recorded.as_ref() != Some(&effective) {
        store.record_activations(&effective)?;
    }
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_storage::{ChainIdentity, Store};

    fn store_at(dir: &std::path::Path, genesis: &Genesis, height: u64, record: bool) -> Store {
        let store = Store::open(dir).unwrap();
        let (block, state, root) = genesis.build().unwrap();
        let id = ChainIdentity {
            chain_id: genesis.params.chain_id,
            genesis_hash: block.hash(),
        };
        store
            .init_genesis(id, &block, &state, root, &genesis.activations)
            .unwrap();
        let mut info = store.head().unwrap();
        for h in 1..=height {
            let mut b = block.clone();
            b.header.height = h;
            b.header.prev_hash = info.hash;
            info = store
                .commit_block(&b, &[], &Default::default(), root)
                .unwrap();
        }
        if !record {
            store.forget_activations_for_test().unwrap();
        }
        store
    }

    #[test]
    fn a_new_chain_records_its_activations_and_an_unknown_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Genesis::dev();
        let store = store_at(dir.path(), &g, 0, true);
        let a = reconcile_activations(&store, &g).unwrap();
        assert_eq!(a.height(RULE_FEE_WEIGHTS), 0);
        assert_eq!(store.activations().unwrap(), Some(a));
        g.activations.0.insert("teleport".into(), 5);
        let e = reconcile_activations(&store, &g).unwrap_err();
        assert!(e.to_string().contains("names no module or rule"), "{e}");
    }

    #[test]
    fn an_activation_the_chain_passed_cannot_change_but_a_future_one_can() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Genesis::dev();
        g.activations.0.insert(RULE_FEE_WEIGHTS.into(), 10);
        let store = store_at(dir.path(), &g, 3, true);
        assert_eq!(
            reconcile_activations(&store, &g)
                .unwrap()
                .height(RULE_FEE_WEIGHTS),
            10
        );
        // Moving a future activation further is fine (and recorded).
        g.activations.0.insert(RULE_FEE_WEIGHTS.into(), 20);
        assert_eq!(
            reconcile_activations(&store, &g)
                .unwrap()
                .height(RULE_FEE_WEIGHTS),
            20
        );
        // Moving it to a height already passed is refused; leaving it out keeps the record.
        g.activations.0.insert(RULE_FEE_WEIGHTS.into(), 2);
        let e = reconcile_activations(&store, &g).unwrap_err();
        assert!(e.to_string().contains("set it back to 20"), "{e}");
        g.activations.0.clear();
        assert_eq!(
            reconcile_activations(&store, &g)
                .unwrap()
                .height(RULE_FEE_WEIGHTS),
            20
        );
    }

    #[test]
    fn a_migrated_chain_gains_new_rules_after_its_head_never_before() {
        // Single member: scheduled at the next block by itself.
        let dir = tempfile::tempdir().unwrap();
        let g = Genesis::dev();
        let store = store_at(dir.path(), &g, 4, false);
        let a = reconcile_activations(&store, &g).unwrap();
        assert_eq!(a.height(RULE_FEE_WEIGHTS), 5);
        assert_eq!(a.height("trace"), 0);
        // Started again: the record stands.
        assert_eq!(reconcile_activations(&store, &g).unwrap(), a);
        // A cluster must say when, the same on every member.
        let dir = tempfile::tempdir().unwrap();
        let mut g = Genesis::dev();
        g.members = vec![crate::config::GenesisMember {
            id: 1,
            public_key: "00".repeat(32),
            url: "http://127.0.0.1:1".into(),
        }];
        let store = store_at(dir.path(), &g, 4, false);
        let e = reconcile_activations(&store, &g).unwrap_err();
        assert!(e.to_string().contains("\"activations\""), "{e}");
        // Everything the chain did not have must be named (the rule, and any module since).
        let new: Vec<&str> = known_names()
            .into_iter()
            .filter(|n| !IN_FORMAT_3.contains(n))
            .collect();
        assert!(new.contains(&RULE_FEE_WEIGHTS));
        for name in &new {
            g.activations.0.insert(name.to_string(), 3);
        }
        let e = reconcile_activations(&store, &g).unwrap_err();
        assert!(
            matches!(&e, NodeError::Config(m)
                if m.contains(&format!("genesis.activations.{} is 3, but this chain (migrated from an older version) reached height 4 without", new[0]))),
            "{e}"
        );
        for name in &new {
            g.activations.0.insert(name.to_string(), 100);
        }
        assert_eq!(
            reconcile_activations(&store, &g)
                .unwrap()
                .height(RULE_FEE_WEIGHTS),
            100
        );
    }

    #[test]
    fn a_rule_added_since_the_chain_recorded_its_activations_applies_only_after_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let g = Genesis::dev();
        let store = store_at(dir.path(), &g, 4, true);
        // Recorded by a build that did not know the trace_writers rule.
        let mut old = Activations::default();
        for name in known_names() {
            if ![
                RULE_TRACE_WRITERS,
                RULE_TRACE_RECORD_IDS,
                RULE_BLOCK_PRECHECKS,
            ]
            .contains(&name)
            {
                old.0.insert(name.to_string(), 0);
            }
        }
        store.record_activations(&old).unwrap();
        let a = reconcile_activations(&store, &g).unwrap();
        assert_eq!(a.height(RULE_TRACE_WRITERS), 5);
        assert_eq!(a.height(RULE_TRACE_RECORD_IDS), 5);
        assert_eq!(a.height(RULE_BLOCK_PRECHECKS), 5);
        assert_eq!(a.height(RULE_FEE_WEIGHTS), 0);
        assert_eq!(store.activations().unwrap(), Some(a));
    }
}
