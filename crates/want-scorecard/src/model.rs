//! The scorecard model: its JSON format and its validation.
//!
//! ```json
//! { "format": "want-scorecard/1", "active": true, "target": "creditability", "positive": "bad",
//!   "scaling": { "score_at_even_odds": 480, "points_to_double_odds": 40,
//!                "factor_e6": 57707802, "points_unit": 1000, "score_min": 320, "score_max": 800 },
//!   "intercept_e6": -845123, "base_points_milli": 528771,
//!   "features": [
//!     { "name": "duration_in_month", "kind": "numeric", "coefficient_e6": 912345, "missing_bin": 3,
//!       "bins": [ { "label": "[-inf,12)", "upper": "12", "woe_e6": -512000,
//!                   "points_milli": 26955, "rows": 180, "bads": 30 }, … ] },
//!     { "name": "purpose", "kind": "categorical", …,
//!       "bins": [ { "label": "car (used)|radio/television", "categories": ["car (used)", …], … } ] } ],
//!   "training": { … } }
//! ```
//!
//! - Numeric bins are half-open intervals `[lower, upper)` of [`Fixed`] decimals written as
//!   strings; the first has no `lower` (−∞), the last no `upper` (+∞), and each bin's `upper` is
//!   the next bin's `lower`: no gap, no overlap.
//! - Categorical bins list their categories (exact string match); no category is in two bins.
//! - A missing value (empty or absent) and, for a categorical feature, a category no bin lists,
//!   go to the bin `missing_bin`.
//! - `woe_e6` (weight of evidence, ln(share of bads / share of goods), × 10⁶) and
//!   `coefficient_e6` (the regression's β, × 10⁶) are kept so that every bin's points can be
//!   checked: `points_milli = round(−factor_e6 · coefficient_e6 · woe_e6 / 10¹⁵)` exactly, half
//!   away from zero, and `base_points_milli = round((480 · 10¹² − factor_e6 · intercept_e6) /
//!   10⁹)`. A tampered point, WOE or coefficient is refused.
//! - `rows` and `bads` per bin are what training saw (information only).

use crate::error::ScorecardError;
use crate::fixed::Fixed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The format string of the model files this code reads and writes.
pub const FORMAT: &str = "want-scorecard/1";
/// Score at odds of default 1:1 (the paper's scaling).
pub const SCORE_AT_EVEN_ODDS: i64 = 480;
/// Points that double the odds of repayment (the paper's scaling).
pub const POINTS_TO_DOUBLE_ODDS: i64 = 40;
/// `40 / ln 2` in millionths, rounded: the factor of the scaling.
pub const FACTOR_E6: i64 = 57_707_802;
/// Points are held in thousandths of a score point.
pub const POINTS_UNIT: i64 = 1_000;
/// Lowest score (grade F, "almost certain default").
pub const SCORE_MIN: u16 = 320;
/// Highest score.
pub const SCORE_MAX: u16 = 800;
/// Largest model file read, in bytes.
pub const MODEL_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most features in a model.
pub const FEATURES_MAX: usize = 256;
/// Most bins in one feature.
pub const BINS_MAX: usize = 64;
/// Most categories listed by one categorical feature (over all its bins).
pub const CATEGORIES_MAX: usize = 1_000;
/// Longest feature name, bin label or category, in bytes.
pub const NAME_BYTES_MAX: usize = 200;
/// Largest |coefficient_e6| (|β| ≤ 1,000).
pub const COEFFICIENT_E6_MAX: i64 = 1_000_000_000;
/// Largest |woe_e6| and |intercept_e6| (|WOE| ≤ 100).
pub const WOE_E6_MAX: i64 = 100_000_000;

/// A scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Always [`FORMAT`].
    pub format: String,
    /// `false` marks a retired model: [`crate::score`] refuses it.
    pub active: bool,
    /// The target column the model was trained on.
    pub target: String,
    /// The target value that meant "bad" (default).
    pub positive: String,
    pub scaling: Scaling,
    /// The regression's intercept after the prior-odds correction, × 10⁶.
    pub intercept_e6: i64,
    /// Points every subject starts from, in thousandths.
    pub base_points_milli: i64,
    pub features: Vec<Feature>,
    /// What training measured (information only; not used for scoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSummary>,
}

/// The scaling: fixed by the paper; stored so a reader sees it and a changed one is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    pub score_at_even_odds: i64,
    pub points_to_double_odds: i64,
    pub factor_e6: i64,
    pub points_unit: i64,
    pub score_min: i64,
    pub score_max: i64,
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling {
            score_at_even_odds: SCORE_AT_EVEN_ODDS,
            points_to_double_odds: POINTS_TO_DOUBLE_ODDS,
            factor_e6: FACTOR_E6,
            points_unit: POINTS_UNIT,
            score_min: i64::from(SCORE_MIN),
            score_max: i64::from(SCORE_MAX),
        }
    }
}

/// Numeric (intervals) or categorical (sets of values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

/// One feature (an input column) of the scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureKind,
    /// The regression's β of the feature's WOE, × 10⁶.
    pub coefficient_e6: i64,
    /// Index of the bin for a missing value (and an unseen category).
    pub missing_bin: usize,
    pub bins: Vec<Bin>,
}

/// One bin of a feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bin {
    /// Shown in reason codes (`feature:label`); no `;`.
    pub label: String,
    /// Numeric: inclusive lower bound; absent on the first bin (−∞).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Fixed>,
    /// Numeric: exclusive upper bound; absent on the last bin (+∞).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Fixed>,
    /// Categorical: the values of this bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Weight of evidence ln(share of bads / share of goods), × 10⁶.
    pub woe_e6: i64,
    /// Points of this bin, in thousandths.
    pub points_milli: i64,
    /// Training rows in this bin (information only).
    #[serde(default)]
    pub rows: u64,
    /// Bad training rows in this bin (information only).
    #[serde(default)]
    pub bads: u64,
}

/// What training measured, as decimal strings (information only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TrainingSummary {
    pub rows: u64,
    pub bads: u64,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population_bad_rate: Option<String>,
    pub test_auc: String,
    pub test_ks: String,
    pub cv_auc: String,
    /// Information value of each kept feature, in the model's feature order.
    pub information_values: Vec<String>,
}

/// Integer division rounding half away from zero.
pub(crate) fn round_div(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d.abs() {
        if (n < 0) != (d < 0) {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// The points (thousandths) a bin must carry: `round(−factor_e6 · coefficient_e6 · woe_e6 / 10¹⁵)`.
pub fn expected_points_milli(coefficient_e6: i64, woe_e6: i64) -> i64 {
    let n = -i128::from(FACTOR_E6) * i128::from(coefficient_e6) * i128::from(woe_e6);
    // |n| ≤ 6·10⁷ · 10⁹ · 10⁸ = 6·10²⁴, so the quotient fits an i64 (≤ 6·10⁹).
    round_div(n, 1_000_000_000_000_000) as i64
}

/// The base points (thousandths): `round((480 · 10¹² − factor_e6 · intercept_e6) / 10⁹)`.
pub fn expected_base_points_milli(intercept_e6: i64) -> i64 {
    let n = i128::from(SCORE_AT_EVEN_ODDS) * 1_000_000_000_000
        - i128::from(FACTOR_E6) * i128::from(intercept_e6);
    round_div(n, 1_000_000_000) as i64
}

fn check_name(path: &str, s: &str, what: &str) -> Result<(), ScorecardError> {
    if s.is_empty() || s.len() > NAME_BYTES_MAX {
        return Err(ScorecardError::invalid(
            path,
            format!("{what} must be 1 to {NAME_BYTES_MAX} bytes long"),
        ));
    }
    Ok(())
}

impl Model {
    /// Reads and validates a model file's text; errors name the JSON path.
    pub fn from_json(text: &str) -> Result<Model, ScorecardError> {
        if text.len() > MODEL_BYTES_MAX {
            return Err(ScorecardError::MalformedModel {
                path: "$".into(),
                message: format!(
                    "the model is {} bytes; at most {MODEL_BYTES_MAX} are read",
                    text.len()
                ),
            });
        }
        // The format first, so that a file of another version says so rather than failing on
        // a field this version does not know.
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
        {
            match map.get("format") {
                Some(serde_json::Value::String(f)) if f != FORMAT => {
                    return Err(ScorecardError::UnknownFormat {
                        found: f.clone(),
                        expected: FORMAT.into(),
                    })
                }
                _ => {}
            }
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let model: Model = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ScorecardError::MalformedModel {
                path: if path.is_empty() || path == "." {
                    "$".into()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }
        })?;
        model.validate()?;
        Ok(model)
    }

    /// The model as pretty JSON (a trailing newline), the same bytes for the same model.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Checks every rule of the format; the error names the JSON path of the first broken one.
    pub fn validate(&self) -> Result<(), ScorecardError> {
        if self.format != FORMAT {
            return Err(ScorecardError::UnknownFormat {
                found: self.format.clone(),
                expected: FORMAT.into(),
            });
        }
        if self.scaling != Scaling::default() {
            return Err(ScorecardError::invalid(
                "scaling",
                format!(
                    "this code scores with {:?} only (score = 480 − 40/ln 2 · ln odds, points in thousandths, 320..=800)",
                    Scaling::default()
                ),
            ));
        }
        if self.intercept_e6.abs() > WOE_E6_MAX {
            return Err(ScorecardError::invalid(
                "intercept_e6",
                format!("|intercept_e6| must be at most {WOE_E6_MAX}"),
            ));
        }
        let base = expected_base_points_milli(self.intercept_e6);
        if self.base_points_milli != base {
            return Err(ScorecardError::invalid(
                "base_points_milli",
                format!(
                    "is {} but the intercept {} gives {base}",
                    self.base_points_milli, self.intercept_e6
                ),
            ));
        }
        if self.features.is_empty() || self.features.len() > FEATURES_MAX {
            return Err(ScorecardError::invalid(
                "features",
                format!("a model has 1 to {FEATURES_MAX} features"),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, f) in self.features.iter().enumerate() {
            let p = format!("features[{i}]");
            check_name(&format!("{p}.name"), &f.name, "a feature name")?;
            if !names.insert(f.name.as_str()) {
                return Err(ScorecardError::invalid(
                    format!("{p}.name"),
                    format!("feature {:?} is listed twice", f.name),
                ));
            }
            f.validate(&p)?;
        }
        Ok(())
    }
}

impl Feature {
    fn validate(&self, p: &str) -> Result<(), ScorecardError> {
        if self.bins.is_empty() || self.bins.len() > BINS_MAX {
            return Err(ScorecardError::invalid(
                format!("{p}.bins"),
                format!("a feature has 1 to {BINS_MAX} bins"),
            ));
        }
        if self.missing_bin >= self.bins.len() {
            return Err(ScorecardError::invalid(
                format!("{p}.missing_bin"),
                format!(
                    "is {} but the feature has {} bins",
                    self.missing_bin,
                    self.bins.len()
                ),
            ));
        }
        if self.coefficient_e6.abs() > COEFFICIENT_E6_MAX {
            return Err(ScorecardError::invalid(
                format!("{p}.coefficient_e6"),
                format!("|coefficient_e6| must be at most {COEFFICIENT_E6_MAX}"),
            ));
        }
        let mut categories = BTreeSet::new();
        let last = self.bins.len() - 1;
        for (j, b) in self.bins.iter().enumerate() {
            let bp = format!("{p}.bins[{j}]");
            check_name(&format!("{bp}.label"), &b.label, "a bin label")?;
            if b.label.contains(';') {
                return Err(ScorecardError::invalid(
                    format!("{bp}.label"),
                    "a label has no ';' (reason codes are joined by ';')",
                ));
            }
            if b.woe_e6.abs() > WOE_E6_MAX {
                return Err(ScorecardError::invalid(
                    format!("{bp}.woe_e6"),
                    format!("|woe_e6| must be at most {WOE_E6_MAX}"),
                ));
            }
            let expected = expected_points_milli(self.coefficient_e6, b.woe_e6);
            if b.points_milli != expected {
                return Err(ScorecardError::invalid(
                    format!("{bp}.points_milli"),
                    format!(
                        "is {} but coefficient_e6 {} and woe_e6 {} give {expected} (round(−factor_e6·coefficient_e6·woe_e6/10¹⁵))",
                        b.points_milli, self.coefficient_e6, b.woe_e6
                    ),
                ));
            }
            match self.kind {
                FeatureKind::Numeric => {
                    if !b.categories.is_empty() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.categories"),
                            "a numeric bin has bounds, not categories",
                        ));
                    }
                    if j == 0 && b.lower.is_some() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.lower"),
                            "the first bin has no lower bound (values below any bound must have a bin)",
                        ));
                    }
                    if j > 0 && b.lower.is_none() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.lower"),
                            "only the first bin may omit its lower bound: bins would overlap",
                        ));
                    }
                    if j == last && b.upper.is_some() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.upper"),
                            "the last bin has no upper bound (values above any bound must have a bin)",
                        ));
                    }
                    if j < last && b.upper.is_none() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.upper"),
                            "only the last bin may omit its upper bound: bins would overlap",
                        ));
                    }
                    if let (Some(lo), Some(hi)) = (b.lower, b.upper) {
                        if lo >= hi {
                            return Err(ScorecardError::invalid(
                                format!("{bp}.upper"),
                                format!("upper {hi} must be above lower {lo}"),
                            ));
                        }
                    }
                    if j < last {
                        let next = &self.bins[j + 1];
                        if b.upper != next.lower {
                            let what = match (b.upper, next.lower) {
                                (Some(u), Some(l)) if l < u => "overlap",
                                _ => "leave a gap",
                            };
                            return Err(ScorecardError::invalid(
                                format!("{p}.bins[{}].lower", j + 1),
                                format!(
                                    "bins {j} and {} {what}: each bin's upper bound must be the next bin's lower bound",
                                    j + 1
                                ),
                            ));
                        }
                    }
                }
                FeatureKind::Categorical => {
                    if b.lower.is_some() || b.upper.is_some() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.lower"),
                            "a categorical bin has categories, not bounds",
                        ));
                    }
                    if b.categories.is_empty() {
                        return Err(ScorecardError::invalid(
                            format!("{bp}.categories"),
                            "a categorical bin lists at least one category",
                        ));
                    }
                    for (k, c) in b.categories.iter().enumerate() {
                        let cp = format!("{bp}.categories[{k}]");
                        if c.len() > NAME_BYTES_MAX {
                            return Err(ScorecardError::invalid(
                                cp,
                                format!("a category is at most {NAME_BYTES_MAX} bytes"),
                            ));
                        }
                        if c.is_empty() {
                            return Err(ScorecardError::invalid(
                                cp,
                                "an empty value is missing, not a category (it goes to missing_bin)",
                            ));
                        }
                        if !categories.insert(c.as_str()) {
                            return Err(ScorecardError::invalid(
                                cp,
                                format!("category {c:?} is in two bins (bins overlap)"),
                            ));
                        }
                        if categories.len() > CATEGORIES_MAX {
                            return Err(ScorecardError::invalid(
                                cp,
                                format!("a feature lists at most {CATEGORIES_MAX} categories"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The bin of a value: `None` or `""` is missing; a numeric value that is not a decimal
    /// number is refused.
    pub fn bin_of(&self, value: Option<&str>) -> Result<usize, ScorecardError> {
        let v = match value {
            Some(v) if !v.trim().is_empty() => v,
            _ => return Ok(self.missing_bin),
        };
        match self.kind {
            FeatureKind::Numeric => {
                let x = Fixed::parse(v).ok_or_else(|| ScorecardError::InvalidInput {
                    feature: self.name.clone(),
                    message: format!(
                        "{v:?} is not a decimal number (the feature is numeric; leave it empty if missing)"
                    ),
                })?;
                for (j, b) in self.bins.iter().enumerate() {
                    match b.upper {
                        Some(u) if x >= u => continue,
                        _ => return Ok(j),
                    }
                }
                Ok(self.bins.len().saturating_sub(1))
            }
            FeatureKind::Categorical => Ok(self
                .bins
                .iter()
                .position(|b| b.categories.iter().any(|c| c == v))
                .unwrap_or(self.missing_bin)),
        }
    }

    /// The highest points of any bin (the feature's best bin).
    pub fn best_points_milli(&self) -> i64 {
        self.bins.iter().map(|b| b.points_milli).max().unwrap_or(0)
    }
}
