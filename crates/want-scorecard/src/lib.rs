//! Trains WOE credit scorecards and scores with them in exact integer arithmetic.
//!
//! A scorecard ([`Model`], versioned JSON `"format": "want-scorecard/1"`) gives each feature a
//! list of bins (numeric intervals or sets of categories) with integer points in thousandths of a
//! score point ([`POINTS_UNIT`]). [`score`] adds the bins' points to the base points, rounds to
//! a whole score, clamps it to [`SCORE_MIN`]..=[`SCORE_MAX`] and grades it A–F; the reason codes
//! are the features whose points fell furthest below their best bin. Scoring uses integers
//! only (numeric inputs are decimal strings read to [`Fixed`], six decimals, no floats), so the
//! chain and the CLI, which both call [`score`], get the same numbers on any machine.
//!
//! Training (feature `train`, [`train`] module) reads a CSV, bins every feature by weight of
//! evidence with monotonic merging, fits an L2-regularised logistic regression on the WOE values
//! (L-BFGS of the `argmin` crate) and scales it to the paper's range:
//! score = 480 − (40 / ln 2) · ln(odds of default).

mod error;
mod fixed;
mod model;
mod score;
#[cfg(feature = "train")]
pub mod train;

pub use error::ScorecardError;
pub use fixed::{Fixed, FIXED_DECIMALS, FIXED_SCALE};
pub use model::{
    expected_base_points_milli, expected_points_milli, Bin, Feature, FeatureKind, Model, Scaling,
    TrainingSummary, BINS_MAX, CATEGORIES_MAX, COEFFICIENT_E6_MAX, FACTOR_E6, FEATURES_MAX, FORMAT,
    MODEL_BYTES_MAX, NAME_BYTES_MAX, POINTS_TO_DOUBLE_ODDS, POINTS_UNIT, SCORE_AT_EVEN_ODDS,
    SCORE_MAX, SCORE_MIN, WOE_E6_MAX,
};
pub use score::{grade_of, score, score_values, Grade, Inputs, Scored, REASON_CODES_MAX};
#[cfg(test)]
mod tests;
