//! Training a scorecard from a CSV, and scoring a CSV with one (feature `train`).
//!
//! [`train`] reads the target column (`positive` is the value meaning "bad"; by default `bad`
//! when the column has it, else `1`), detects each other column's kind (numeric when every
//! non-empty value is a decimal number, else categorical; `categorical`/`numeric` override),
//! drops constant and empty columns with a note, splits the rows 70/30 stratified by the target
//! with a ChaCha8 generator seeded by `seed`, and on the 70 %: bins each feature by WOE
//! ([`binning`]), drops features whose IV is below `iv_min`, fits an L2-regularised logistic
//! regression on the WOE values ([`logistic`]), drops a feature whose coefficient has the wrong
//! sign (a riskier bin must not add points) and refits, and scales to integer points. The
//! prior-odds correction adds ln(π/(1−π)) − ln(p/(1−p)) to the intercept, π the population's
//! bad rate and p the sample's. The model is then scored on the 30 % by [`crate::score`] (AUC,
//! KS, bad rate per grade), and 5-fold stratified cross-validation over all rows retrains
//! binning and regression on each 4/5 and scores the fifth. Same file, options and seed: same
//! model, byte for byte.

pub mod binning;
pub mod data;
pub mod logistic;
pub mod metrics;

use crate::error::ScorecardError;
use crate::fixed::Fixed;
use crate::model::{
    expected_base_points_milli, expected_points_milli, Bin, Feature, FeatureKind, Model, Scaling,
    TrainingSummary, CATEGORIES_MAX, FORMAT, NAME_BYTES_MAX,
};
use crate::score::{score_values, Grade, Scored};
use binning::{BinningParams, Group};
pub use data::Table;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// Default seed of the split and the folds.
pub const DEFAULT_SEED: u64 = 42;
/// Fewest data rows training accepts.
pub const ROWS_MIN: usize = 100;
/// Fewest rows of each class (bad and good) training accepts.
pub const CLASS_ROWS_MIN: usize = 20;
/// Share of rows held out for the test (stratified).
pub const TEST_SHARE: f64 = 0.3;
/// Folds of the cross-validation.
pub const CV_FOLDS: usize = 5;
/// Longest bin label made from a categorical bin's categories, in bytes.
const CATEGORY_LABEL_BYTES_MAX: usize = 120;

/// Training settings. [`TrainOptions::new`] gives the defaults, tuned on the German credit data
/// (fine classing 30, minimum bin share 3 %, at most 6 bins, IV ≥ 0.02, L2 0.002).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub target: String,
    /// The target value meaning "bad"; `None`: `bad` when the column has it, else `1`.
    pub positive: Option<String>,
    pub seed: u64,
    /// The population's bad rate when the sample's is not it (prior-odds correction).
    pub population_bad_rate: Option<f64>,
    /// Columns read as categorical even if every value is a number.
    pub categorical: Vec<String>,
    /// Columns that must be numeric (a value that is not a number is refused).
    pub numeric: Vec<String>,
    pub binning: BinningParams,
    /// Features with a lower information value are dropped.
    pub iv_min: f64,
    /// L2 penalty of the regression (on the mean log-loss).
    pub l2: f64,
}

impl TrainOptions {
    pub fn new(target: impl Into<String>) -> TrainOptions {
        TrainOptions {
            target: target.into(),
            positive: None,
            seed: DEFAULT_SEED,
            population_bad_rate: None,
            categorical: Vec::new(),
            numeric: Vec::new(),
            binning: BinningParams {
                fine_bins: 30,
                min_bin_share: 0.03,
                max_bins: 6,
            },
            iv_min: 0.02,
            l2: 0.002,
        }
    }
}

/// What one feature became.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeatureReport {
    pub name: String,
    pub kind: FeatureKind,
    /// `true` if the model uses it.
    pub kept: bool,
    /// Why it was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Information value of its bins on the training rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<f64>,
    pub bins: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coefficient: Option<f64>,
}

/// Observed bad rate of one grade.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GradeRate {
    pub grade: Grade,
    pub rows: u64,
    pub bads: u64,
    /// `None` when the grade has no rows.
    pub bad_rate: Option<f64>,
}

/// What [`train`] measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrainReport {
    pub file: String,
    pub target: String,
    pub positive: String,
    pub rows: u64,
    pub bads: u64,
    pub bad_rate: f64,
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_bad_rate: Option<f64>,
    pub train_rows: u64,
    pub test_rows: u64,
    pub test_auc: f64,
    pub test_ks: f64,
    pub cv_auc: f64,
    pub cv_fold_aucs: Vec<f64>,
    /// Bad rate per grade on the test rows, A to F.
    pub test_grades: Vec<GradeRate>,
    /// Bad rate per grade over all rows scored by the model, A to F.
    pub all_grades: Vec<GradeRate>,
    pub features: Vec<FeatureReport>,
    pub training_ms: u64,
}

/// A trained model and its report.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Model,
    pub report: TrainReport,
}

/// A column to bin.
#[derive(Debug, Clone)]
struct Column {
    index: usize,
    name: String,
    kind: FeatureKind,
}

fn data_err(t: &Table, row: Option<u64>, column: Option<&str>, message: String) -> ScorecardError {
    ScorecardError::Data {
        file: t.file.clone(),
        row,
        column: column.map(str::to_string),
        message,
    }
}

/// Trains a scorecard on `table` (see the module's documentation).
pub fn train(table: &Table, opts: &TrainOptions) -> Result<Trained, ScorecardError> {
    let started = std::time::Instant::now();
    let ti = table.column(&opts.target).ok_or_else(|| {
        data_err(
            table,
            Some(1),
            Some(&opts.target),
            format!(
                "no target column {:?}; the columns are {}",
                opts.target,
                table.headers.join(", ")
            ),
        )
    })?;
    if table.rows.len() < ROWS_MIN {
        return Err(data_err(
            table,
            None,
            None,
            format!(
                "too few rows: {} data rows, training needs at least {ROWS_MIN}",
                table.rows.len()
            ),
        ));
    }
    let positive = match &opts.positive {
        Some(p) => p.clone(),
        None if table.rows.iter().any(|r| r[ti].trim() == "bad") => "bad".into(),
        None => "1".into(),
    };
    let mut bad = Vec::with_capacity(table.rows.len());
    for (i, r) in table.rows.iter().enumerate() {
        let v = r[ti].trim();
        if v.is_empty() {
            return Err(data_err(
                table,
                Some(table.line_of(i)),
                Some(&opts.target),
                "the target is empty: every row needs an outcome".into(),
            ));
        }
        bad.push(v == positive);
    }
    let nb = bad.iter().filter(|&&b| b).count();
    let ng = bad.len() - nb;
    if nb == 0 || ng == 0 {
        let values: std::collections::BTreeSet<&str> =
            table.rows.iter().map(|r| r[ti].trim()).collect();
        return Err(data_err(
            table,
            None,
            Some(&opts.target),
            format!(
                "the target has one class: {} rows are {} (values seen: {}); name the bad value with --positive",
                bad.len(),
                if nb == 0 { format!("not {positive:?}") } else { format!("{positive:?}") },
                values.into_iter().take(10).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if nb.min(ng) < CLASS_ROWS_MIN {
        return Err(data_err(
            table,
            None,
            Some(&opts.target),
            format!(
                "too few rows of one class: {nb} bad and {ng} good; training needs at least {CLASS_ROWS_MIN} of each"
            ),
        ));
    }
    if let Some(r) = opts.population_bad_rate {
        if !(r > 0.0 && r < 1.0) {
            return Err(ScorecardError::Training(format!(
                "the population bad rate must be between 0 and 1 exclusive, not {r}"
            )));
        }
    }
    let (columns, mut notes) = detect_columns(table, ti, opts)?;

    // The stratified 70/30 split.
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut bads, mut goods): (Vec<usize>, Vec<usize>) = (0..bad.len()).partition(|&i| bad[i]);
    shuffle(&mut bads, &mut rng);
    shuffle(&mut goods, &mut rng);
    let tb = (bads.len() as f64 * TEST_SHARE).round() as usize;
    let tg = (goods.len() as f64 * TEST_SHARE).round() as usize;
    let mut test: Vec<usize> = bads[..tb].iter().chain(&goods[..tg]).copied().collect();
    let mut trainrows: Vec<usize> = bads[tb..].iter().chain(&goods[tg..]).copied().collect();
    test.sort_unstable();
    trainrows.sort_unstable();

    let (mut model, feature_reports) = fit(table, &columns, &trainrows, &bad, opts, &positive)?;
    let test_scores = score_rows(&model, table, &test)?;
    let test_bad: Vec<bool> = test.iter().map(|&i| bad[i]).collect();
    let risk: Vec<f64> = test_scores.iter().map(|s| -f64::from(s.score)).collect();
    let test_auc = metrics::auc(&risk, &test_bad);
    let test_ks = metrics::ks(&risk, &test_bad);
    let test_grades = grade_rates(&test_scores, &test_bad);
    let all: Vec<usize> = (0..table.rows.len()).collect();
    let all_scores = score_rows(&model, table, &all)?;
    let all_grades = grade_rates(&all_scores, &bad);

    // Cross-validation: stratified folds over all rows, binning and regression refitted.
    let mut fold_of = vec![0usize; bad.len()];
    let mut cv_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    cv_rng.set_stream(1);
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..bad.len()).filter(|&i| bad[i] == class).collect();
        shuffle(&mut idx, &mut cv_rng);
        for (k, &i) in idx.iter().enumerate() {
            fold_of[i] = k % CV_FOLDS;
        }
    }
    let mut cv_fold_aucs = Vec::with_capacity(CV_FOLDS);
    for k in 0..CV_FOLDS {
        let (held, rest): (Vec<usize>, Vec<usize>) = (0..bad.len()).partition(|&i| fold_of[i] == k);
        let (m, _) = fit(table, &columns, &rest, &bad, opts, &positive)?;
        let s = score_rows(&m, table, &held)?;
        let r: Vec<f64> = s.iter().map(|s| -f64::from(s.score)).collect();
        let b: Vec<bool> = held.iter().map(|&i| bad[i]).collect();
        cv_fold_aucs.push(metrics::auc(&r, &b));
    }
    let cv_auc = cv_fold_aucs.iter().sum::<f64>() / CV_FOLDS as f64;

    model.training = Some(TrainingSummary {
        rows: table.rows.len() as u64,
        bads: nb as u64,
        seed: opts.seed,
        population_bad_rate: opts.population_bad_rate.map(|r| format!("{r:.6}")),
        test_auc: format!("{test_auc:.4}"),
        test_ks: format!("{test_ks:.4}"),
        cv_auc: format!("{cv_auc:.4}"),
        information_values: feature_reports
            .iter()
            .filter(|f| f.kept)
            .map(|f| format!("{:.4}", f.iv.unwrap_or(0.0)))
            .collect(),
    });
    let mut features = feature_reports;
    features.append(&mut notes);
    let report = TrainReport {
        file: table.file.clone(),
        target: opts.target.clone(),
        positive,
        rows: table.rows.len() as u64,
        bads: nb as u64,
        bad_rate: nb as f64 / bad.len() as f64,
        seed: opts.seed,
        population_bad_rate: opts.population_bad_rate,
        train_rows: trainrows.len() as u64,
        test_rows: test.len() as u64,
        test_auc,
        test_ks,
        cv_auc,
        cv_fold_aucs,
        test_grades,
        all_grades,
        features,
        training_ms: started.elapsed().as_millis() as u64,
    };
    Ok(Trained { model, report })
}

/// Fisher–Yates with the ChaCha8 stream (the same permutation for the same seed everywhere).
fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Decides each column's kind; returns the columns to bin and notes on the dropped ones.
fn detect_columns(
    table: &Table,
    ti: usize,
    opts: &TrainOptions,
) -> Result<(Vec<Column>, Vec<FeatureReport>), ScorecardError> {
    for name in opts.categorical.iter().chain(&opts.numeric) {
        if table.column(name).is_none() {
            return Err(data_err(
                table,
                Some(1),
                Some(name),
                format!(
                    "no such column; the columns are {}",
                    table.headers.join(", ")
                ),
            ));
        }
        if *name == opts.target {
            return Err(data_err(
                table,
                Some(1),
                Some(name),
                "the target column is not a feature".into(),
            ));
        }
    }
    let mut cols = Vec::new();
    let mut notes = Vec::new();
    for (ci, name) in table.headers.iter().enumerate() {
        if ci == ti {
            continue;
        }
        let declared_numeric = opts.numeric.contains(name);
        let declared_categorical = opts.categorical.contains(name);
        let mut numeric = !declared_categorical;
        let mut distinct = std::collections::BTreeSet::new();
        let mut too_long = false;
        for (i, r) in table.rows.iter().enumerate() {
            let v = r[ci].trim();
            if v.is_empty() {
                continue;
            }
            if numeric && Fixed::parse(v).is_none() {
                if declared_numeric {
                    return Err(data_err(
                        table,
                        Some(table.line_of(i)),
                        Some(name),
                        format!("{v:?} is not a number but the column is declared numeric (--numeric); numbers are plain decimals like 12 or -0.5"),
                    ));
                }
                numeric = false;
            }
            if distinct.len() <= CATEGORIES_MAX {
                distinct.insert(r[ci].as_str());
            }
            too_long |= r[ci].len() > NAME_BYTES_MAX;
        }
        let kind = if numeric {
            FeatureKind::Numeric
        } else {
            FeatureKind::Categorical
        };
        let drop = |note: String| FeatureReport {
            name: name.clone(),
            kind,
            kept: false,
            note: Some(note),
            iv: None,
            bins: 0,
            coefficient: None,
        };
        if distinct.is_empty() {
            notes.push(drop("dropped: every value is empty".into()));
        } else if distinct.len() == 1 {
            notes.push(drop("dropped: constant column (one value)".into()));
        } else if kind == FeatureKind::Categorical && distinct.len() > CATEGORIES_MAX {
            notes.push(drop(format!(
                "dropped: more than {CATEGORIES_MAX} categories (an identifier?)"
            )));
        } else if kind == FeatureKind::Categorical && too_long {
            notes.push(drop(format!(
                "dropped: a category is longer than {NAME_BYTES_MAX} bytes"
            )));
        } else {
            cols.push(Column {
                index: ci,
                name: name.clone(),
                kind,
            });
        }
    }
    Ok((cols, notes))
}

fn bound_label(v: Option<Fixed>, inf: &str) -> String {
    v.map(|f| f.to_string()).unwrap_or_else(|| inf.to_string())
}

fn category_label(categories: &[String]) -> String {
    let joined = categories.join("|").replace(';', ",");
    if joined.len() <= CATEGORY_LABEL_BYTES_MAX {
        return joined;
    }
    let first = categories[0].replace(';', ",");
    let mut cut = first.len().min(CATEGORY_LABEL_BYTES_MAX - 20);
    while !first.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…(+{} more)", &first[..cut], categories.len() - 1)
}

/// A feature's bins before the regression: bounds or categories, and WOE per bin.
fn make_feature(c: &Column, groups: &[Group]) -> Feature {
    let bins = groups
        .iter()
        .enumerate()
        .map(|(j, g)| {
            let upper = groups.get(j + 1).and_then(|n| n.lower);
            Bin {
                label: match c.kind {
                    FeatureKind::Numeric => format!(
                        "[{},{})",
                        bound_label(g.lower, "-inf"),
                        bound_label(upper, "inf")
                    ),
                    FeatureKind::Categorical => category_label(&g.categories),
                },
                lower: g.lower,
                upper,
                categories: g.categories.clone(),
                woe_e6: 0,
                points_milli: 0,
                rows: 0,
                bads: 0,
            }
        })
        .collect();
    Feature {
        name: c.name.clone(),
        kind: c.kind,
        coefficient_e6: 0,
        missing_bin: 0,
        bins,
    }
}

/// Bins every column on `rows`, fits the regression and scales: the model of these rows.
fn fit(
    table: &Table,
    columns: &[Column],
    rows: &[usize],
    bad: &[bool],
    opts: &TrainOptions,
    positive: &str,
) -> Result<(Model, Vec<FeatureReport>), ScorecardError> {
    let tb = rows.iter().filter(|&&i| bad[i]).count() as u64;
    let tg = rows.len() as u64 - tb;
    if tb == 0 || tg == 0 {
        return Err(ScorecardError::Training(
            "a training subset has one class only".into(),
        ));
    }
    let mut reports = Vec::new();
    // (feature, bin of each row in `rows`, woe per bin)
    let mut binned: Vec<(Feature, Vec<usize>, Vec<f64>, f64)> = Vec::new();
    for c in columns {
        let value = |i: usize| table.rows[i][c.index].as_str();
        let is_missing = |i: usize| value(i).trim().is_empty();
        let (miss_rows, miss_bads) = rows
            .iter()
            .filter(|&&i| is_missing(i))
            .fold((0u64, 0u64), |(n, b), &i| (n + 1, b + u64::from(bad[i])));
        let groups = match c.kind {
            FeatureKind::Numeric => {
                let pairs: Vec<(Fixed, bool)> = rows
                    .iter()
                    .filter(|&&i| !is_missing(i))
                    .filter_map(|&i| Fixed::parse(value(i)).map(|v| (v, bad[i])))
                    .collect();
                binning::bin_numeric(pairs, &opts.binning, tb, tg)
            }
            FeatureKind::Categorical => {
                let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for &i in rows.iter().filter(|&&i| !is_missing(i)) {
                    let e = counts.entry(value(i)).or_default();
                    e.0 += 1;
                    e.1 += u64::from(bad[i]);
                }
                let cats = counts
                    .into_iter()
                    .map(|(k, (n, b))| (k.to_string(), n, b))
                    .collect();
                binning::bin_categorical(cats, &opts.binning, tb, tg)
            }
        };
        let dropped = |note: String, iv: Option<f64>, bins: usize| FeatureReport {
            name: c.name.clone(),
            kind: c.kind,
            kept: false,
            note: Some(note),
            iv,
            bins,
            coefficient: None,
        };
        if groups.len() < 2 {
            reports.push(dropped(
                "dropped: one bin after merging (no information)".into(),
                None,
                groups.len(),
            ));
            continue;
        }
        let mut f = make_feature(c, &groups);
        // Missing values join the bin of closest bad rate, or the riskiest bin.
        f.missing_bin = if miss_rows > 0 {
            let r = miss_bads as f64 / miss_rows as f64;
            (0..groups.len())
                .min_by(|&a, &b| {
                    let ra = groups[a].bads as f64 / groups[a].rows as f64;
                    let rb = groups[b].bads as f64 / groups[b].rows as f64;
                    (ra - r).abs().total_cmp(&(rb - r).abs())
                })
                .unwrap_or(0)
        } else {
            (0..groups.len())
                .max_by(|&a, &b| {
                    let wa = binning::woe(groups[a].rows, groups[a].bads, tb, tg);
                    let wb = binning::woe(groups[b].rows, groups[b].bads, tb, tg);
                    wa.total_cmp(&wb).then(b.cmp(&a))
                })
                .unwrap_or(0)
        };
        // Each row's bin by the scoring function itself.
        let mut assign = Vec::with_capacity(rows.len());
        let mut counts = vec![(0u64, 0u64); f.bins.len()];
        for &i in rows {
            let j = f.bin_of(Some(value(i))).map_err(|e| {
                data_err(table, Some(table.line_of(i)), Some(&c.name), e.to_string())
            })?;
            counts[j].0 += 1;
            counts[j].1 += u64::from(bad[i]);
            assign.push(j);
        }
        let woe: Vec<f64> = counts
            .iter()
            .map(|&(n, b)| binning::woe(n, b, tb, tg))
            .collect();
        let iv = binning::information_value(&counts, tb, tg);
        for (b, &(n, k)) in f.bins.iter_mut().zip(&counts) {
            b.rows = n;
            b.bads = k;
        }
        if iv < opts.iv_min {
            reports.push(dropped(
                format!("dropped: information value {iv:.4} below {}", opts.iv_min),
                Some(iv),
                f.bins.len(),
            ));
            continue;
        }
        binned.push((f, assign, woe, iv));
    }

    // The regression, refitted without any feature whose coefficient has the wrong sign.
    let mut active: Vec<usize> = (0..binned.len()).collect();
    let y: Vec<bool> = rows.iter().map(|&i| bad[i]).collect();
    let mut wrong_sign = Vec::new();
    let w = loop {
        if active.is_empty() {
            return Err(ScorecardError::Training(
                "no feature carries information about the target (every feature was dropped)"
                    .into(),
            ));
        }
        let p = active.len();
        let mut x = Vec::with_capacity(rows.len() * p);
        for r in 0..rows.len() {
            for &k in &active {
                let (_, assign, woe, _) = &binned[k];
                x.push(woe[assign[r]]);
            }
        }
        let w = logistic::fit(&x, &y, p, opts.l2).map_err(ScorecardError::Training)?;
        let worst = (0..p)
            .filter(|&j| w[j + 1] <= 0.0)
            .min_by(|&a, &b| w[a + 1].total_cmp(&w[b + 1]));
        match worst {
            Some(j) => wrong_sign.push(active.remove(j)),
            None => break w,
        }
    };

    let sample_rate = tb as f64 / (tb + tg) as f64;
    let shift = opts
        .population_bad_rate
        .map(|pi| (pi / (1.0 - pi)).ln() - (sample_rate / (1.0 - sample_rate)).ln())
        .unwrap_or(0.0);
    let intercept_e6 = to_e6(w[0] + shift)?;
    let mut features = Vec::new();
    for (k, (mut f, _, woe, iv)) in binned.into_iter().enumerate() {
        match active.iter().position(|&a| a == k) {
            Some(j) => {
                let beta = w[j + 1];
                f.coefficient_e6 = to_e6(beta)?;
                for (b, &wv) in f.bins.iter_mut().zip(&woe) {
                    b.woe_e6 = to_e6(wv)?;
                    b.points_milli = expected_points_milli(f.coefficient_e6, b.woe_e6);
                }
                reports.push(FeatureReport {
                    name: f.name.clone(),
                    kind: f.kind,
                    kept: true,
                    note: None,
                    iv: Some(iv),
                    bins: f.bins.len(),
                    coefficient: Some(beta),
                });
                features.push(f);
            }
            None => reports.push(FeatureReport {
                name: f.name.clone(),
                kind: f.kind,
                kept: false,
                note: Some(if wrong_sign.contains(&k) {
                    "dropped: its coefficient had the wrong sign beside the other features".into()
                } else {
                    "dropped".into()
                }),
                iv: Some(iv),
                bins: f.bins.len(),
                coefficient: None,
            }),
        }
    }
    // Reports in the file's column order: kept and dropped alike.
    let order: BTreeMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    reports.sort_by_key(|r| order.get(r.name.as_str()).copied().unwrap_or(usize::MAX));
    let model = Model {
        format: FORMAT.into(),
        active: true,
        target: opts.target.clone(),
        positive: positive.to_string(),
        scaling: Scaling::default(),
        intercept_e6,
        base_points_milli: expected_base_points_milli(intercept_e6),
        features,
        training: None,
    };
    model.validate()?;
    Ok((model, reports))
}

fn to_e6(v: f64) -> Result<i64, ScorecardError> {
    let x = (v * 1e6).round();
    if !x.is_finite() || x.abs() > 1e17 {
        return Err(ScorecardError::Training(format!(
            "a fitted value {v} is out of range"
        )));
    }
    Ok(x as i64)
}

fn grade_rates(scores: &[Scored], bad: &[bool]) -> Vec<GradeRate> {
    Grade::ALL
        .into_iter()
        .map(|g| {
            let (rows, bads) = scores
                .iter()
                .zip(bad)
                .filter(|(s, _)| s.grade == g)
                .fold((0u64, 0u64), |(n, b), (_, &x)| (n + 1, b + u64::from(x)));
            GradeRate {
                grade: g,
                rows,
                bads,
                bad_rate: (rows > 0).then(|| bads as f64 / rows as f64),
            }
        })
        .collect()
}

/// The table's column of each model feature; a feature the file lacks is refused.
pub fn feature_columns(model: &Model, table: &Table) -> Result<Vec<usize>, ScorecardError> {
    model
        .features
        .iter()
        .map(|f| {
            table.column(&f.name).ok_or_else(|| {
                data_err(
                    table,
                    Some(1),
                    Some(&f.name),
                    format!(
                        "the model's feature {:?} is not a column of the file (leave its values empty if unknown)",
                        f.name
                    ),
                )
            })
        })
        .collect()
}

fn score_rows(model: &Model, table: &Table, rows: &[usize]) -> Result<Vec<Scored>, ScorecardError> {
    let cols = feature_columns(model, table)?;
    let mut values: Vec<Option<&str>> = vec![None; cols.len()];
    rows.iter()
        .map(|&i| {
            for (v, &c) in values.iter_mut().zip(&cols) {
                *v = Some(table.rows[i][c].as_str());
            }
            score_values(model, &values).map_err(|e| match e {
                ScorecardError::InvalidInput { feature, message } => {
                    data_err(table, Some(table.line_of(i)), Some(&feature), message)
                }
                e => e,
            })
        })
        .collect()
}

/// Scores every row of a table with the model, in the table's order. A model feature missing
/// from the file, or a value that is not a number in a numeric feature, is refused with the
/// file, row and column.
pub fn score_table(model: &Model, table: &Table) -> Result<Vec<Scored>, ScorecardError> {
    let all: Vec<usize> = (0..table.rows.len()).collect();
    score_rows(model, table, &all)
}
