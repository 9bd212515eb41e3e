//! The checker: after the schedule, with everything healed and every honest member restarted.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{next_block, Sim, CONVERGE_MS, FINAL_PROGRESS_MS, PROPOSE_TIMEOUT_MS};
use crate::Consensus;

/// How often the checker looks again while it waits (simulated ms).
const POLL_MS: u64 = 50;

/// Checks every property; returns those that failed, each as `property: reason`.
pub(super) async fn check(sim: &Sim) -> Vec<String> {
    let mut violations = Vec::new();
    let honest = sim.honest();
    let live = sim.live();
    for id in &honest {
        if !live.contains_key(id) {
            violations.push(format!("progress: honest node {id} does not restart"));
        }
    }
    // Progress: a new block commits within a bounded time once all is healed.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(FINAL_PROGRESS_MS);
    let mut committed = None;
    while tokio::time::Instant::now() < deadline && committed.is_none() {
        let leader = sim.live().into_iter().find(|(_, c)| c.can_propose());
        if let Some((id, node)) = leader {
            let block = next_block(&sim.appliers[&id], &sim.keys[&id], (sim.clock(id))());
            if let Ok(Ok(b)) = tokio::time::timeout(
                Duration::from_millis(PROPOSE_TIMEOUT_MS),
                node.propose(block),
            )
            .await
            {
                sim.acked.lock().push(b);
                committed = Some(b);
            } else {
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }
    let Some(last) = committed else {
        violations.push(format!(
            "progress: no block committed within {FINAL_PROGRESS_MS} ms after healing"
        ));
        violations.extend(safety(sim));
        return violations;
    };
    // Every honest member applies it.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(CONVERGE_MS);
    while tokio::time::Instant::now() < deadline
        && honest
            .iter()
            .any(|i| sim.appliers[i].height() < last.height)
    {
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    for i in &honest {
        let h = sim.appliers[i].height();
        if h < last.height {
            violations.push(format!(
                "progress: node {i} applied up to {h}, not the final block {} within {CONVERGE_MS} ms",
                last.height
            ));
        }
    }
    // Membership intact: the same voters with the same keys on every honest member.
    for (i, node) in sim.live() {
        let m = node.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let want: BTreeSet<u64> = sim.members.keys().copied().collect();
        if voters != want {
            violations.push(format!(
                "membership: node {i} has voters {voters:?}, not {want:?}"
            ));
        }
        for (id, member) in &sim.members {
            if membership.get_node(id).map(|n| &n.public_key) != Some(&member.public_key) {
                violations.push(format!(
                    "membership: node {i} has another key for member {id}"
                ));
            }
        }
    }
    violations.extend(safety(sim));
    violations
}

/// Agreement, no double application, no acknowledged block lost.
fn safety(sim: &Sim) -> Vec<String> {
    let mut violations = Vec::new();
    let chains: Vec<(u64, Vec<super::applier::AppliedEntry>)> = sim
        .appliers
        .iter()
        .map(|(&i, a)| (i, a.entries()))
        .collect();
    for (i, chain) in &chains {
        let mut seen = BTreeSet::new();
        for (n, e) in chain.iter().enumerate() {
            if e.block.header.height != n as u64 + 1 {
                violations.push(format!(
                    "applied_once: node {i} holds block {} at position {}",
                    e.block.header.height,
                    n + 1
                ));
                break;
            }
            if !seen.insert(e.block.hash()) {
                violations.push(format!("applied_once: node {i} applied a block twice"));
                break;
            }
        }
    }
    for (a, ca) in &chains {
        for (b, cb) in chains.iter().filter(|(b, _)| b > a) {
            if let Some(h) = ca
                .iter()
                .zip(cb)
                .position(|(x, y)| x.block.hash() != y.block.hash() || x.state_root != y.state_root)
            {
                violations.push(format!(
                    "agreement: nodes {a} and {b} differ at height {}",
                    h + 1
                ));
            }
        }
    }
    if lost(sim) > 0 {
        violations.push(format!(
            "acknowledged_kept: {} acknowledged block(s) missing from an honest member",
            lost(sim)
        ));
    }
    violations
}

/// Acknowledged blocks missing from some honest member's chain (at their height, with their
/// state root), once it reached that height.
pub(super) fn lost(sim: &Sim) -> u64 {
    let acked = sim.acked.lock().clone();
    let chains: Vec<_> = sim.appliers.values().map(|a| a.entries()).collect();
    acked
        .iter()
        .filter(|b| {
            chains.iter().any(|c| {
                let at = usize::try_from(b.height).unwrap_or(usize::MAX);
                match at.checked_sub(1).and_then(|i| c.get(i)) {
                    Some(e) => e.block.hash() != b.hash || e.state_root != b.state_root,
                    None => false,
                }
            })
        })
        .count() as u64
}
