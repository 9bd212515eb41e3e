//! `want bench credit-score`: scores `--subjects` subjects with a scorecard on one core (the
//! German credit model by default, the rows of the German data repeated as subjects) and times
//! training on the same data. Scoring is `want_scorecard::score_values`, the function the chain
//! and `want credit score` call; the inputs are parsed from the CSV beforehand (not timed), as
//! the chain reads its inputs from state.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use want_scorecard::train::{feature_columns, train, Table, TrainOptions};
use want_scorecard::Grade;

use crate::output::Out;

#[derive(Args)]
pub struct CreditScoreBenchArgs {
    /// Data whose rows are the subjects (repeated as needed) and the training set.
    #[arg(long, default_value = "testdata/credit/germancredit.csv")]
    data: PathBuf,
    /// The target column of the data.
    #[arg(long, default_value = "creditability")]
    target: String,
    /// Subjects to score.
    #[arg(long, default_value_t = 100_000)]
    subjects: usize,
    /// Model to score with; default: the one trained on `--data` in this run.
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(a: CreditScoreBenchArgs, out: &Out) -> anyhow::Result<()> {
    use crate::modules::credit::{cli_error, read_model};
    let table = Table::read(&a.data).map_err(cli_error)?;
    let t0 = Instant::now();
    let trained = train(&table, &TrainOptions::new(a.target.clone())).map_err(cli_error)?;
    let train_ms = t0.elapsed().as_secs_f64() * 1e3;
    let model = match &a.model {
        Some(p) => read_model(p)?,
        None => trained.model,
    };
    let cols = feature_columns(&model, &table).map_err(cli_error)?;
    let subjects: Vec<Vec<Option<&str>>> = table
        .rows
        .iter()
        .map(|r| cols.iter().map(|&c| Some(r[c].as_str())).collect())
        .collect();
    if subjects.is_empty() {
        anyhow::bail!("{} has no rows", a.data.display());
    }
    let mut per_grade = [0u64; 6];
    let t1 = Instant::now();
    for i in 0..a.subjects {
        let s = want_scorecard::score_values(&model, black_box(&subjects[i % subjects.len()]))
            .map_err(cli_error)?;
        per_grade[s.grade as usize] += 1;
    }
    let secs = t1.elapsed().as_secs_f64();
    let rate = a.subjects as f64 / secs.max(1e-9);
    let v = json!({
        "subjects": a.subjects,
        "features": model.features.len(),
        "scoring_seconds": secs,
        "scores_per_second": rate.round() as u64,
        "training_ms": train_ms.round() as u64,
        "training_ms_note": "whole `want credit train` work: split, binning, regression, test scoring and 5-fold CV",
        "test_auc": trained.report.test_auc,
        "cv_auc": trained.report.cv_auc,
        "grades": Grade::ALL.iter().map(|g| json!({"grade": g, "subjects": per_grade[*g as usize]})).collect::<Vec<_>>(),
    });
    out.value(&v, |v| {
        format!(
            "scored {} subjects ({} features) in {:.3} s on one core: {} scores/s\n\
             training on {} (with the 5-fold CV): {} ms",
            v["subjects"],
            v["features"],
            v["scoring_seconds"].as_f64().unwrap_or_default(),
            v["scores_per_second"],
            a.data.display(),
            v["training_ms"]
        )
    });
    Ok(())
}
