//! Chain parameters fixed at genesis and read by the state machine.

use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Address, Amount};

/// Parameters every node of a chain must agree on; part of the genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainParams {
    /// Identifies the chain; a transaction signed for another chain id is refused.
    pub chain_id: u64,
    /// Smallest fee a transaction must pay unless it carries a valid proof-of-work stamp; it pays
    /// for up to `base_weight` of work (with the rule `fee_weights` active).
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub min_fee: Amount,
    /// Leading zero bits the transaction id must have to stand in for the fee (hashcash).
    pub pow_difficulty_bits: u32,
    /// Fee on every value transfer, in basis points (100 = 1 %), paid into the incentive pool.
    pub transfer_fee_bps: u32,
    /// The account that receives transaction fees and transfer fees.
    pub incentive_pool: Address,
    /// Weight (about one nanosecond of a reference machine's work per unit, see `docs/MODULES.md`)
    /// that the minimum fee, or a proof-of-work stamp, pays for.
    #[serde(default = "default_base_weight")]
    pub base_weight: u64,
    /// Fee per 1,000 units of weight beyond `base_weight`, in base units.
    #[serde(default = "default_fee_per_kweight", with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub fee_per_kweight: Amount,
    /// Most weight one block may carry; every member refuses a heavier block.
    #[serde(default = "default_block_weight_max")]
    pub block_weight_max: u64,
}

/// Default of [`ChainParams::base_weight`]. Never change a default: a genesis that leaves the
/// field out means this value (and its hash leaves it out too, see [`ChainParams::spec_bytes`]).
pub const BASE_WEIGHT_DEFAULT: u64 = 250_000;
/// Default of [`ChainParams::fee_per_kweight`] (with the development minimum fee of 1,000 base
/// units per 250,000 weight, the same price per unit). Never change a default.
pub const FEE_PER_KWEIGHT_DEFAULT: Amount = 4;
/// Default of [`ChainParams::block_weight_max`]: four seconds of reference work. Never change a
/// default.
pub const BLOCK_WEIGHT_MAX_DEFAULT: u64 = 4_000_000_000;

fn default_base_weight() -> u64 {
    BASE_WEIGHT_DEFAULT
}
fn default_fee_per_kweight() -> Amount {
    FEE_PER_KWEIGHT_DEFAULT
}
fn default_block_weight_max() -> u64 {
    BLOCK_WEIGHT_MAX_DEFAULT
}

impl ChainParams {
    /// Transfer fee for an amount: `ceil(amount × bps / 10 000)`, so splitting a payment saves nothing.
    pub fn transfer_fee(&self, amount: Amount) -> Option<Amount> {
        let scaled = amount.checked_mul(Amount::from(self.transfer_fee_bps))?;
        Some(scaled.div_ceil(10_000))
    }

    /// The smallest fee a transaction of `weight` pays under the rule `fee_weights`:
    /// `min_fee + ceil((weight − base_weight) × fee_per_kweight / 1000)`; `None` on overflow.
    pub fn fee_for_weight(&self, weight: u64) -> Option<Amount> {
        let extra = Amount::from(weight.saturating_sub(self.base_weight));
        let extra_fee = extra.checked_mul(self.fee_per_kweight)?.div_ceil(1_000);
        self.min_fee.checked_add(extra_fee)
    }

    /// The bytes of these parameters in the genesis hash: the five original fields as they were
    /// always encoded, then the weight fields only when one differs from its default, so the
    /// genesis hash of a chain made before weights existed does not change.
    pub fn spec_bytes(&self) -> Vec<u8> {
        let encode = "invariant: borsh encoding into a Vec cannot fail";
        let mut bytes = borsh::to_vec(&(
            self.chain_id,
            self.min_fee,
            self.pow_difficulty_bits,
            self.transfer_fee_bps,
            self.incentive_pool,
        ))
        .expect(encode);
        if (
            self.base_weight,
            self.fee_per_kweight,
            self.block_weight_max,
        ) != (
            BASE_WEIGHT_DEFAULT,
            FEE_PER_KWEIGHT_DEFAULT,
            BLOCK_WEIGHT_MAX_DEFAULT,
        ) {
            bytes.extend(
                borsh::to_vec(&(
                    "weights",
                    self.base_weight,
                    self.fee_per_kweight,
                    self.block_weight_max,
                ))
                .expect(encode),
            );
        }
        bytes
    }
}

/// The rule that fees follow weight and blocks have a weight limit (see [`ChainParams`]).
pub const RULE_FEE_WEIGHTS: &str = "fee_weights";

/// The rule that limits who may write what in the trace module: a key's roles must suit its
/// organisation's kind, KYC attestations are kept per verifier (one never erases another's), and
/// a CID names one blob only (a record's or a KYC document's, never both).
pub const RULE_TRACE_WRITERS: &str = "trace_writers";

/// The rule that identifies a record by its organisation and event hash
/// (`want_types::trace::record_id`) instead of the event hash alone, so an organisation cannot
/// take another's event hash ID in advance: each organisation's duplicate check is its own.
/// Records anchored before it keep their event hash as their identity.
pub const RULE_TRACE_RECORD_IDS: &str = "trace_record_ids";

/// The rule that the modules' stateless prechecks (a grant's key, a till request's signature)
/// bind blocks as they bind admission: a member refuses a block carrying a call that fails one.
pub const RULE_BLOCK_PRECHECKS: &str = "block_prechecks";

/// From which height each module and rule applies: the genesis `activations` section, by name
/// (a module's name, or a rule such as [`RULE_FEE_WEIGHTS`]). A name not listed applies from the
/// genesis. The node records the activations when it writes the genesis and refuses to start
/// when one that the chain has already passed is changed, so adding a module or a rule to a
/// running chain never changes the meaning of its past blocks.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activations(pub BTreeMap<String, u64>);

impl Activations {
    /// The height from which `name` applies.
    pub fn height(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// Whether `name` applies to the block at `height`.
    pub fn active(&self, name: &str, height: u64) -> bool {
        height >= self.height(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChainParams {
        ChainParams {
            chain_id: 1,
            min_fee: 1000,
            pow_difficulty_bits: 16,
            transfer_fee_bps: 100,
            incentive_pool: Address::system("incentive-pool"),
            base_weight: BASE_WEIGHT_DEFAULT,
            fee_per_kweight: FEE_PER_KWEIGHT_DEFAULT,
            block_weight_max: BLOCK_WEIGHT_MAX_DEFAULT,
        }
    }

    #[test]
    fn transfer_fee_is_one_percent_rounded_up() {
        let p = params();
        assert_eq!(p.transfer_fee(10_000), Some(100));
        assert_eq!(p.transfer_fee(1), Some(1));
        assert_eq!(p.transfer_fee(0), Some(0));
        assert_eq!(p.transfer_fee(199), Some(2));
        assert_eq!(p.transfer_fee(u128::MAX), None);
    }

    #[test]
    fn weight_beyond_the_base_is_priced_per_thousand_rounded_up() {
        let p = params();
        assert_eq!(p.fee_for_weight(0), Some(1000));
        assert_eq!(p.fee_for_weight(BASE_WEIGHT_DEFAULT), Some(1000));
        assert_eq!(p.fee_for_weight(BASE_WEIGHT_DEFAULT + 1), Some(1001));
        assert_eq!(p.fee_for_weight(BASE_WEIGHT_DEFAULT + 1_000), Some(1004));
        assert_eq!(p.fee_for_weight(BASE_WEIGHT_DEFAULT + 1_001), Some(1005));
        let pricey = ChainParams {
            fee_per_kweight: u128::MAX,
            ..p
        };
        assert_eq!(pricey.fee_for_weight(u64::MAX), None);
    }

    #[test]
    fn default_weight_fields_leave_the_spec_bytes_of_older_chains_unchanged() {
        let p = params();
        let legacy = borsh::to_vec(&(
            p.chain_id,
            p.min_fee,
            p.pow_difficulty_bits,
            p.transfer_fee_bps,
            p.incentive_pool,
        ))
        .unwrap();
        assert_eq!(p.spec_bytes(), legacy);
        let heavier = ChainParams {
            block_weight_max: 1,
            ..p
        };
        assert_ne!(heavier.spec_bytes(), legacy);
        // A genesis written before the weight fields parses with the defaults.
        let old: ChainParams = serde_json::from_value(serde_json::json!({
            "chain_id": 1, "min_fee": "1000", "pow_difficulty_bits": 16,
            "transfer_fee_bps": 100, "incentive_pool": Address::system("incentive-pool"),
        }))
        .unwrap();
        assert_eq!(old, params());
    }

    #[test]
    fn unlisted_activations_apply_from_genesis() {
        let mut a = Activations::default();
        assert!(a.active("anything", 0));
        a.0.insert("later".into(), 10);
        assert!(!a.active("later", 9));
        assert!(a.active("later", 10));
    }
}
