use std::collections::BTreeMap;
use std::time::Instant;

use super::byzantine::Kind;
use super::plan::{Action, Plan};
use super::*;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Byzantine behaviours whose defence is not on this branch yet (open findings: each has an
/// ignored test below that fails until its check lands). Seeds using them are reported, not
/// failed, by the batch run.
const OPEN_FINDINGS: &[&str] = &[];

fn replay_command(seed: u64, sim_ms: u64) -> String {
    format!("WANT_SIM_SEED={seed} WANT_SIM_MS={sim_ms} cargo test -p want-consensus --lib sim::tests::sim_seeds -- --nocapture")
}

/// The CI run: `WANT_SIM_SEEDS` seeds (default 200) from `WANT_SIM_SEED_START`, or the one
/// seed `WANT_SIM_SEED`, each `WANT_SIM_MS` simulated ms long.
#[test]
fn sim_seeds_keep_acknowledged_blocks_agreement_and_progress() {
    let sim_ms = env_u64("WANT_SIM_MS").unwrap_or(SIM_MS_DEFAULT);
    let seeds: Vec<u64> = match env_u64("WANT_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let start = env_u64("WANT_SIM_SEED_START").unwrap_or(0);
            let n = env_u64("WANT_SIM_SEEDS").unwrap_or(SIM_SEEDS_DEFAULT);
            (start..start + n).collect()
        }
    };
    let wall = Instant::now();
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut refusals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut byz: BTreeMap<String, u64> = BTreeMap::new();
    let (mut acked, mut lost, mut sim_total, mut with_byz) = (0, 0, 0, 0);
    let mut failed = Vec::new();
    let mut open = Vec::new();
    for &seed in &seeds {
        let out = run_seed(seed, sim_ms);
        for (k, v) in &out.faults {
            *faults.entry(k).or_default() += v;
        }
        for (k, v) in &out.refusals {
            *refusals.entry(k).or_default() += v;
        }
        for (k, v) in &out.byzantine_outcomes {
            *byz.entry(k.clone()).or_default() += v;
        }
        acked += out.acknowledged;
        lost += out.lost;
        sim_total += out.sim_ms;
        with_byz += u64::from(out.byzantine.is_some());
        if !out.violations.is_empty() {
            let known = out
                .byzantine_kinds
                .iter()
                .any(|k| OPEN_FINDINGS.contains(k));
            println!(
                "seed {} ({} members, byzantine {:?} {:?}) FAILED{}: {:?}\n  replay: {}",
                out.seed,
                out.members,
                out.byzantine,
                out.byzantine_kinds,
                if known { " (open finding)" } else { "" },
                out.violations,
                replay_command(seed, sim_ms)
            );
            if known {
                open.push(seed);
            } else {
                failed.push(seed);
            }
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    println!("simulation: {} schedules ({with_byz} with a Byzantine member), {} simulated ms each + healing", seeds.len(), sim_ms);
    println!("  faults injected: {faults:?}");
    println!("  envelopes refused by receivers: {refusals:?}");
    println!("  byzantine messages: {byz:#?}");
    println!("  acknowledged blocks: {acked}, lost: {lost}");
    println!(
        "  simulated {:.0} s in {secs:.1} s wall: {:.1} simulated s per wall s",
        sim_total as f64 / 1000.0,
        sim_total as f64 / 1000.0 / secs.max(1e-9)
    );
    println!("  failed seeds: {failed:?}; seeds failing on open findings: {open:?}");
    assert!(
        failed.is_empty(),
        "seeds {failed:?} failed; replay one with {}",
        replay_command(failed[0], sim_ms)
    );
}

#[test]
fn sim_a_calm_cluster_commits_and_every_member_agrees() {
    for members in [3, 5] {
        let out = run_plan(Plan::calm(1, members, 1_500));
        assert!(out.violations.is_empty(), "{:?}", out.violations);
        assert!(
            out.acknowledged > 5,
            "{} blocks acknowledged",
            out.acknowledged
        );
        assert_eq!(out.lost, 0);
    }
}

#[test]
fn sim_a_seed_draws_the_same_schedule_every_time() {
    for seed in 0..50 {
        let (a, b) = (Plan::draw(seed, 4_000), Plan::draw(seed, 4_000));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed}");
    }
    let kinds: std::collections::BTreeSet<_> = (0..200)
        .flat_map(|s| Plan::draw(s, 4_000).byzantine_kinds())
        .collect();
    assert_eq!(
        kinds.len(),
        Kind::ALL.len(),
        "every Byzantine behaviour is drawn"
    );
}

fn replayed_plan() -> Plan {
    let mut p = Plan::calm(7, 3, 1_000);
    p.events = vec![
        (
            0,
            Action::Rates(wire::Rates {
                drop_per_mille: 50,
                duplicate_per_mille: 50,
                delay_ms_max: 20,
            }),
        ),
        (
            300,
            Action::Crash {
                node: 1,
                lose_tail: 1,
            },
        ),
        (700, Action::Restart { node: 1 }),
    ];
    p
}

/// Full trace determinism: the schedule, the network's decisions and openraft's election
/// timeouts are drawn from the seed, blocking work (log writes, block applies) runs in place on
/// the simulation's thread ([`crate::raft::runtime::blocking`]), and the paused clock moves only
/// when every task waits — so one seed replays the same events at the same simulated instants.
#[test]
fn sim_the_same_seed_replays_the_same_trace() {
    let a = run_plan(replayed_plan());
    let b = run_plan(replayed_plan());
    assert_eq!(
        a.trace_hash, b.trace_hash,
        "two runs of one schedule diverged"
    );
    // Drawn schedules too, Byzantine members and crashes included.
    for seed in 0..REPLAYED_SEEDS {
        let a = run_seed(seed, 2_000);
        let b = run_seed(seed, 2_000);
        assert_eq!(
            (a.trace_hash, a.acknowledged, &a.faults),
            (b.trace_hash, b.acknowledged, &b.faults),
            "two runs of seed {seed} diverged; replay each with {}",
            replay_command(seed, 2_000)
        );
    }
}

/// Seeds run twice by the replay test.
const REPLAYED_SEEDS: u64 = 12;

/// One Byzantine member doing only `kind`, a few times, in a 3- and a 5-member cluster.
fn byzantine_only(kind: Kind) -> Vec<String> {
    byzantine_run(kind).0
}

/// [`byzantine_only`], with the receivers' answers to the Byzantine messages (`kind -> outcome`
/// counts).
fn byzantine_run(kind: Kind) -> (Vec<String>, BTreeMap<String, u64>) {
    let mut violations = Vec::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for (seed, members) in [(11, 3), (12, 5)] {
        let mut p = Plan::calm(seed, members, 3_000);
        p.byzantine = Some(members as u64);
        p.events = (1..=6)
            .map(|i| (i * 400, Action::Byzantine(kind)))
            .collect();
        let out = run_plan(p);
        println!("{}: {:?}", kind.name(), out.byzantine_outcomes);
        for (k, n) in out.byzantine_outcomes {
            *outcomes.entry(k).or_default() += n;
        }
        violations.extend(
            out.violations
                .into_iter()
                .map(|v| format!("{members} members: {v}")),
        );
    }
    (violations, outcomes)
}

macro_rules! byzantine_test {
    ($name:ident, $kind:expr) => {
        #[test]
        fn $name() {
            let v = byzantine_only($kind);
            assert!(v.is_empty(), "{}: {v:?}", $kind.name());
        }
    };
    ($name:ident, $kind:expr, $why:literal) => {
        #[test]
        #[ignore = $why]
        fn $name() {
            let v = byzantine_only($kind);
            assert!(v.is_empty(), "{}: {v:?}", $kind.name());
        }
    };
}

byzantine_test!(
    sim_byzantine_impersonating_a_member_is_refused,
    Kind::ImpersonateMember
);
byzantine_test!(
    sim_byzantine_forged_envelopes_are_refused,
    Kind::ForgedEnvelope
);
/// A copy of a message its receiver took, sent again, is refused every time (the calm plan has
/// no restarts; across a restart the receiver refuses what was sent before it started).
#[test]
fn sim_byzantine_replayed_envelopes_are_refused() {
    let (violations, outcomes) = byzantine_run(Kind::ReplayedEnvelope);
    assert!(violations.is_empty(), "{violations:?}");
    let replayed: u64 = outcomes.values().sum();
    assert!(replayed > 0, "no envelope was replayed: {outcomes:?}");
    assert!(
        outcomes.keys().all(|k| k.contains("refused:")),
        "a replayed envelope was not refused: {outcomes:?}"
    );
}
byzantine_test!(
    sim_byzantine_claiming_anothers_leadership_cannot_fork_or_halt,
    Kind::ClaimOthersLeadership
);
byzantine_test!(
    sim_byzantine_vote_for_another_cannot_fork_or_halt,
    Kind::VoteForOther
);
byzantine_test!(
    sim_byzantine_fork_block_cannot_fork_or_halt,
    Kind::ForkBlock
);
byzantine_test!(sim_byzantine_garbage_block_cannot_halt, Kind::GarbageBlock);
byzantine_test!(
    sim_byzantine_bad_signature_block_cannot_halt,
    Kind::BadSignatureBlock
);
byzantine_test!(
    sim_byzantine_admin_remove_member_is_refused,
    Kind::AdminRemoveMember
);
byzantine_test!(sim_byzantine_admin_set_key_is_refused, Kind::AdminSetKey);
byzantine_test!(
    sim_byzantine_snapshot_of_own_head_cannot_skip_entries,
    Kind::SnapshotOwnHead
);
byzantine_test!(
    sim_byzantine_elected_leader_cannot_rewrite_the_membership_by_log,
    Kind::ElectedMembershipRewrite
);
byzantine_test!(
    sim_byzantine_elected_leader_cannot_rewrite_the_membership_by_snapshot,
    Kind::ElectedSnapshotMembership
);
