//! A seed's schedule: who crashes and restarts when, partitions, network fault rates, clock
//! skews, and what a Byzantine member (if any) sends.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::byzantine::Kind;
use super::wire::Rates;

/// Share of seeds (‰) with one Byzantine member.
const BYZANTINE_PER_MILLE: u32 = 350;
/// Largest clock skew of a node, in ms (well within the replay window).
const SKEW_MS_MAX: i64 = 2_000;
/// Longest a node stays down or a partition lasts, in ms.
const OUTAGE_MS_MAX: u64 = 2_500;
/// Snapshot intervals drawn (small ones exercise snapshots and catching up by fetching blocks).
const SNAPSHOT_INTERVALS: [u64; 3] = [10, 25, 2_000];

/// One step of a schedule.
#[derive(Clone, Debug)]
pub enum Action {
    /// Crash a node; its applier loses its last `lose_tail` blocks (an unsynced tail).
    Crash {
        node: u64,
        lose_tail: u64,
    },
    Restart {
        node: u64,
    },
    /// These members cannot talk to the others.
    Partition {
        side: BTreeSet<u64>,
    },
    Heal,
    Rates(Rates),
    Byzantine(Kind),
}

/// A seed's schedule (see the module documentation).
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub members: usize,
    pub byzantine: Option<u64>,
    pub skew_ms: BTreeMap<u64, i64>,
    pub snapshot_every_entries: u64,
    pub duration_ms: u64,
    /// (simulated ms, action), in time order.
    pub events: Vec<(u64, Action)>,
}

impl Plan {
    /// A faithful schedule: no faults at all.
    pub fn calm(seed: u64, members: usize, duration_ms: u64) -> Plan {
        Plan {
            seed,
            members,
            byzantine: None,
            skew_ms: BTreeMap::new(),
            snapshot_every_entries: SNAPSHOT_INTERVALS[0],
            duration_ms,
            events: Vec::new(),
        }
    }

    /// Draws the schedule of `seed`.
    pub fn draw(seed: u64, duration_ms: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let members = if rng.gen_bool(0.5) { 3 } else { 5 };
        let ids: Vec<u64> = (1..=members as u64).collect();
        let byzantine = (rng.gen_range(0..1_000) < BYZANTINE_PER_MILLE).then_some(members as u64);
        let honest: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&i| Some(i) != byzantine)
            .collect();
        let skew_ms = ids
            .iter()
            .map(|&i| (i, rng.gen_range(-SKEW_MS_MAX..=SKEW_MS_MAX)))
            .collect();
        let snapshot_every_entries = *SNAPSHOT_INTERVALS
            .choose(&mut rng)
            .expect("invariant: not empty");
        let mut events = Vec::new();
        let span = duration_ms.max(1);
        // Network fault rates, changing a few times.
        let mut t = 0;
        while t < span {
            let calm = rng.gen_bool(0.25);
            let rates = if calm {
                Rates::default()
            } else {
                Rates {
                    drop_per_mille: rng.gen_range(0..=150),
                    duplicate_per_mille: rng.gen_range(0..=100),
                    delay_ms_max: *[5, 20, 60, 250]
                        .choose(&mut rng)
                        .expect("invariant: not empty"),
                }
            };
            events.push((t, Action::Rates(rates)));
            t += rng.gen_range(500..=2_000);
        }
        // Crashes and restarts (a node is never crashed twice at once).
        let mut down_until: BTreeMap<u64, u64> = BTreeMap::new();
        for _ in 0..rng.gen_range(0..=3) {
            let node = *honest.choose(&mut rng).expect("invariant: not empty");
            let at = rng.gen_range(0..span);
            if down_until.get(&node).is_some_and(|&u| u + 1 >= at) {
                continue;
            }
            let back = at + rng.gen_range(100..=OUTAGE_MS_MAX);
            down_until.insert(node, back);
            let lose_tail = if rng.gen_bool(0.4) {
                rng.gen_range(1..=3)
            } else {
                0
            };
            events.push((at, Action::Crash { node, lose_tail }));
            events.push((back.min(span), Action::Restart { node }));
        }
        // Partitions and heals.
        for _ in 0..rng.gen_range(0..=2) {
            let at = rng.gen_range(0..span);
            let size = rng.gen_range(1..=members / 2);
            let side: BTreeSet<u64> = ids.choose_multiple(&mut rng, size).copied().collect();
            events.push((at, Action::Partition { side }));
            events.push((
                (at + rng.gen_range(100..=OUTAGE_MS_MAX)).min(span),
                Action::Heal,
            ));
        }
        if byzantine.is_some() {
            for _ in 0..rng.gen_range(3..=8) {
                let kind = *Kind::ALL.choose(&mut rng).expect("invariant: not empty");
                events.push((rng.gen_range(0..span), Action::Byzantine(kind)));
            }
        }
        // Stable order: by time, then as drawn.
        events.sort_by_key(|(at, _)| *at);
        Plan {
            seed,
            members,
            byzantine,
            skew_ms,
            snapshot_every_entries,
            duration_ms: span,
            events,
        }
    }

    /// The Byzantine behaviours the schedule uses.
    pub fn byzantine_kinds(&self) -> BTreeSet<&'static str> {
        self.events
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Byzantine(k) => Some(k.name()),
                _ => None,
            })
            .collect()
    }
}
