//! Scoring: integer arithmetic only.

use crate::error::ScorecardError;
use crate::model::{round_div, Model, POINTS_UNIT, SCORE_MAX, SCORE_MIN};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Reason codes given with a score: the features that lowered it most.
pub const REASON_CODES_MAX: usize = 4;

/// One subject's inputs by feature name; an absent or empty value is missing. Names the model
/// does not use are ignored.
pub type Inputs = BTreeMap<String, String>;

/// The paper's six grades of 80 points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// 720..=800
    A,
    /// 640..720
    B,
    /// 560..640
    C,
    /// 480..560
    D,
    /// 400..480
    E,
    /// 320..400
    F,
}

impl Grade {
    pub const ALL: [Grade; 6] = [Grade::A, Grade::B, Grade::C, Grade::D, Grade::E, Grade::F];

    /// The lowest score of the grade.
    pub fn floor(self) -> u16 {
        match self {
            Grade::A => 720,
            Grade::B => 640,
            Grade::C => 560,
            Grade::D => 480,
            Grade::E => 400,
            Grade::F => SCORE_MIN,
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The grade of a score: A ≥ 720, B ≥ 640, C ≥ 560, D ≥ 480, E ≥ 400, F below.
pub fn grade_of(score: u16) -> Grade {
    Grade::ALL
        .into_iter()
        .find(|g| score >= g.floor())
        .unwrap_or(Grade::F)
}

/// A subject's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    /// `round(total_points_milli / 1000)` (half away from zero), clamped to 320..=800.
    pub score: u16,
    pub grade: Grade,
    /// Base points plus every feature's points, in thousandths, before rounding and clamping.
    pub total_points_milli: i64,
    /// Up to [`REASON_CODES_MAX`] codes `feature:bin label`: the features whose points fell
    /// furthest below their best bin, largest shortfall first, ties in the model's feature
    /// order; a feature in its best bin gives no reason.
    pub reason_codes: Vec<String>,
    /// The bin of each feature, in the model's feature order.
    pub bins: Vec<usize>,
}

/// Scores one subject whose inputs are given by feature name.
pub fn score(model: &Model, inputs: &Inputs) -> Result<Scored, ScorecardError> {
    let values: Vec<Option<&str>> = model
        .features
        .iter()
        .map(|f| inputs.get(&f.name).map(String::as_str))
        .collect();
    score_values(model, &values)
}

/// Scores one subject whose inputs are given in the model's feature order (`None` = missing).
/// [`score`] is this function; the CLI and the chain both reach it.
pub fn score_values(model: &Model, values: &[Option<&str>]) -> Result<Scored, ScorecardError> {
    if !model.active {
        return Err(ScorecardError::Retired);
    }
    if values.len() != model.features.len() {
        return Err(ScorecardError::InvalidInput {
            feature: String::new(),
            message: format!(
                "{} values given for a model of {} features",
                values.len(),
                model.features.len()
            ),
        });
    }
    let mut total = i128::from(model.base_points_milli);
    let mut bins = Vec::with_capacity(values.len());
    // (shortfall below the feature's best bin, feature index)
    let mut shortfalls: Vec<(i64, usize)> = Vec::with_capacity(values.len());
    for (i, (f, v)) in model.features.iter().zip(values).enumerate() {
        let j = f.bin_of(*v)?;
        let bin = f.bins.get(j).ok_or_else(|| ScorecardError::InvalidModel {
            path: format!("features[{i}].missing_bin"),
            message: "names no bin".into(),
        })?;
        total += i128::from(bin.points_milli);
        let short = f.best_points_milli().saturating_sub(bin.points_milli);
        if short > 0 {
            shortfalls.push((short, i));
        }
        bins.push(j);
    }
    shortfalls.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let reason_codes = shortfalls
        .iter()
        .take(REASON_CODES_MAX)
        .map(|&(_, i)| {
            let f = &model.features[i];
            format!("{}:{}", f.name, f.bins[bins[i]].label)
        })
        .collect();
    let rounded = round_div(total, i128::from(POINTS_UNIT));
    let score = rounded.clamp(i128::from(SCORE_MIN), i128::from(SCORE_MAX)) as u16;
    Ok(Scored {
        score,
        grade: grade_of(score),
        total_points_milli: total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        reason_codes,
        bins,
    })
}
