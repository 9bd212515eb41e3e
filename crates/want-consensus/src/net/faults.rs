//! The fault-injecting side of the transport, for fault tests: drops, delays (and so reorders),
//! duplicates, corrupts and forges outgoing messages, and blocks traffic to and from chosen
//! members (partitions). Decisions come from a seeded generator, so a schedule is reproducible
//! from its seed. Off unless the node's configuration enables fault injection.

use std::collections::BTreeSet;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Largest injected delay, in milliseconds.
pub const FAULT_DELAY_MS_MAX: u64 = 5_000;
/// Probabilities are in parts per thousand.
pub const PER_MILLE: u32 = 1_000;

/// What to do to messages (all zero = a faithful network).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaultPlan {
    /// Seed of the decisions.
    pub seed: u64,
    /// Chance (‰) that a request is dropped before sending.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub drop_per_mille: u32,
    /// Chance (‰) that a request is sent twice.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub duplicate_per_mille: u32,
    /// Chance (‰) that one byte of a request is flipped in transit.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub corrupt_per_mille: u32,
    /// Chance (‰) that a request is re-signed with a key that is not the sender's.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub forge_per_mille: u32,
    /// Each request waits a random 0..=delay_ms_max ms before sending (reorders them).
    #[cfg_attr(feature = "openapi", schema(maximum = 5000))]
    pub delay_ms_max: u64,
    /// Members this node neither sends to nor accepts messages from.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u64>))]
    pub blocked: BTreeSet<u64>,
}

impl FaultPlan {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("drop_per_mille", self.drop_per_mille),
            ("duplicate_per_mille", self.duplicate_per_mille),
            ("corrupt_per_mille", self.corrupt_per_mille),
            ("forge_per_mille", self.forge_per_mille),
        ] {
            if v > PER_MILLE {
                return Err(format!("{name} = {v} is above {PER_MILLE}"));
            }
        }
        if self.delay_ms_max > FAULT_DELAY_MS_MAX {
            return Err(format!(
                "delay_ms_max = {} is above {FAULT_DELAY_MS_MAX}",
                self.delay_ms_max
            ));
        }
        Ok(())
    }

    pub fn is_faithful(&self) -> bool {
        *self
            == FaultPlan {
                seed: self.seed,
                ..FaultPlan::default()
            }
    }
}

/// What the injector decided for one outgoing request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub blocked: bool,
    pub drop: bool,
    pub duplicate: bool,
    /// Flip the byte at this position (modulo the message length).
    pub corrupt_at: Option<usize>,
    pub forge: bool,
    pub delay_ms: u64,
}

/// Applies a [`FaultPlan`] (see the module documentation).
pub struct FaultInjector {
    enabled: bool,
    state: Mutex<(FaultPlan, StdRng)>,
}

impl FaultInjector {
    /// `enabled = false` makes [`FaultInjector::set`] refuse any plan.
    pub fn new(enabled: bool) -> FaultInjector {
        FaultInjector {
            enabled,
            state: Mutex::new((FaultPlan::default(), StdRng::seed_from_u64(0))),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the plan (and reseeds).
    pub fn set(&self, plan: FaultPlan) -> Result<(), String> {
        if !self.enabled {
            return Err(
                "fault injection is disabled on this node (enable it with fault_injection = true in its configuration; never in production)".into(),
            );
        }
        plan.validate()?;
        let rng = StdRng::seed_from_u64(plan.seed);
        *self.state.lock() = (plan, rng);
        Ok(())
    }

    pub fn plan(&self) -> FaultPlan {
        self.state.lock().0.clone()
    }

    /// Whether messages from `from` are to be refused.
    pub fn blocks(&self, from: u64) -> bool {
        self.enabled && self.state.lock().0.blocked.contains(&from)
    }

    /// Decides what happens to one request to `to`.
    pub fn decide(&self, to: u64) -> Decision {
        if !self.enabled {
            return Decision::default();
        }
        let mut guard = self.state.lock();
        let (plan, rng) = &mut *guard;
        if plan.blocked.contains(&to) {
            return Decision {
                blocked: true,
                ..Decision::default()
            };
        }
        let mut roll = |p: u32| p > 0 && rng.gen_range(0..PER_MILLE) < p;
        let drop = roll(plan.drop_per_mille);
        let duplicate = roll(plan.duplicate_per_mille);
        let corrupt = roll(plan.corrupt_per_mille);
        let forge = roll(plan.forge_per_mille);
        Decision {
            blocked: false,
            drop,
            duplicate,
            corrupt_at: corrupt.then(|| rng.gen::<usize>()),
            forge,
            delay_ms: if plan.delay_ms_max > 0 {
                rng.gen_range(0..=plan.delay_ms_max)
            } else {
                0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_injector_refuses_plans_and_never_interferes() {
        let f = FaultInjector::new(false);
        assert!(f
            .set(FaultPlan {
                drop_per_mille: 1000,
                ..FaultPlan::default()
            })
            .is_err());
        assert_eq!(f.decide(2), Decision::default());
        assert!(!f.blocks(2));
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let plan = FaultPlan {
            seed: 99,
            drop_per_mille: 300,
            duplicate_per_mille: 200,
            corrupt_per_mille: 100,
            forge_per_mille: 50,
            delay_ms_max: 20,
            blocked: BTreeSet::new(),
        };
        let run = || {
            let f = FaultInjector::new(true);
            f.set(plan.clone()).unwrap();
            (0..200).map(|i| f.decide(i % 3)).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|d| d.drop) && a.iter().any(|d| !d.drop));
    }

    #[test]
    fn blocked_members_are_cut_off_both_ways() {
        let f = FaultInjector::new(true);
        f.set(FaultPlan {
            blocked: [3].into(),
            ..FaultPlan::default()
        })
        .unwrap();
        assert!(f.decide(3).blocked);
        assert!(!f.decide(2).blocked);
        assert!(f.blocks(3));
    }

    #[test]
    fn out_of_range_plans_are_refused() {
        let f = FaultInjector::new(true);
        assert!(f
            .set(FaultPlan {
                drop_per_mille: 1001,
                ..FaultPlan::default()
            })
            .is_err());
        assert!(f
            .set(FaultPlan {
                delay_ms_max: FAULT_DELAY_MS_MAX + 1,
                ..FaultPlan::default()
            })
            .is_err());
    }
}
