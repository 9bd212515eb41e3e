//! The credit module's commands. Offline: `want credit train` fits a scorecard to a CSV and
//! `want credit score` scores a CSV with one (no node); both go through `want_scorecard`, the
//! crate the chain's credit module checks and scores with, so the numbers are the chain's. On
//! chain: `want credit model publish|retire|show|list` and `want credit scorer add|remove|list`
//! ([`chain`]).

mod chain;

use crate::output::{CliError, Out};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use want_scorecard::train::{score_table, train, Table, TrainOptions, DEFAULT_SEED};
use want_scorecard::{Grade, Model, ScorecardError, MODEL_BYTES_MAX};

/// The module's top-level command.
#[derive(Subcommand)]
pub enum Command {
    /// Credit: scorecards offline (train, score), and the chain's models and scorers.
    #[command(subcommand)]
    Credit(CreditCommand),
}

/// The module adds nothing to `want tx`.
#[derive(Subcommand)]
pub enum TxCommand {}

#[derive(Subcommand)]
pub enum CreditCommand {
    /// Train a scorecard on a CSV with a target column; prints test AUC, KS, 5-fold CV AUC and
    /// the bad rate per grade, and writes the model (versioned JSON).
    Train(TrainArgs),
    /// Score every row of a CSV with a model: writes the input columns plus score, grade and
    /// reason_codes (joined by ';'), one row per input row, in the input's order.
    Score(ScoreArgs),
    /// Models on chain: publish (a registered scorer), retire, show, list.
    #[command(subcommand)]
    Model(chain::ModelCommand),
    /// Scorers on chain: add and remove (the credit administrator), list.
    #[command(subcommand)]
    Scorer(chain::ScorerCommand),
}

#[derive(Args)]
pub struct TrainArgs {
    /// The training data: a CSV with a header line.
    #[arg(long)]
    data: PathBuf,
    /// The target column (the outcome).
    #[arg(long)]
    target: String,
    /// The target value meaning bad (default); default: `bad` if the column has it, else `1`.
    #[arg(long)]
    positive: Option<String>,
    /// Seed of the stratified 70/30 split and of the cross-validation folds.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// The population's bad rate (0 < R < 1), when the sample's is not it: corrects the odds.
    #[arg(long)]
    population_bad_rate: Option<f64>,
    /// Read this column as categorical even if its values are numbers (repeatable).
    #[arg(long)]
    categorical: Vec<String>,
    /// Require this column to be numeric: a value that is not a number is refused (repeatable).
    #[arg(long)]
    numeric: Vec<String>,
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct ScoreArgs {
    /// The model file (from `want credit train`).
    #[arg(long)]
    model: PathBuf,
    /// The CSV to score: a header line naming the model's features (extra columns are kept).
    #[arg(long)]
    data: PathBuf,
    /// Where to write the scored CSV.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: Command, out: &Out) -> anyhow::Result<()> {
    let Command::Credit(cmd) = cmd;
    match cmd {
        CreditCommand::Train(a) => train_cmd(a, out),
        CreditCommand::Score(a) => score_cmd(a, out),
        CreditCommand::Model(c) => chain::model(c, out),
        CreditCommand::Scorer(c) => chain::scorer(c, out),
    }
}

pub fn run_tx(cmd: TxCommand, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}

/// The CLI error of a scorecard error: its stable code, and the JSON path of a model's problem.
pub fn cli_error(e: ScorecardError) -> anyhow::Error {
    let code = e.code();
    let path = match &e {
        ScorecardError::MalformedModel { path, .. } | ScorecardError::InvalidModel { path, .. } => {
            Some(path.clone())
        }
        ScorecardError::UnknownFormat { .. } => Some("format".to_string()),
        _ => None,
    };
    let c = CliError::new(code, e.to_string());
    match path {
        Some(p) => c.at(p).into(),
        None => c.into(),
    }
}

/// Reads and validates a model file.
pub fn read_model(path: &std::path::Path) -> anyhow::Result<Model> {
    let text = crate::read_text_file(path, MODEL_BYTES_MAX as u64)?;
    Model::from_json(&text).map_err(|e| {
        let c = CliError::from_anyhow(cli_error(e));
        let msg = format!("{}: {}", path.display(), c.message);
        let c2 = CliError::new(c.code, msg);
        match c.path {
            Some(p) => c2.at(p).into(),
            None => c2.into(),
        }
    })
}

fn train_cmd(a: TrainArgs, out: &Out) -> anyhow::Result<()> {
    let table = Table::read(&a.data).map_err(cli_error)?;
    let mut o = TrainOptions::new(a.target);
    o.positive = a.positive;
    o.seed = a.seed;
    o.population_bad_rate = a.population_bad_rate;
    o.categorical = a.categorical;
    o.numeric = a.numeric;
    let t = train(&table, &o).map_err(cli_error)?;
    std::fs::write(&a.out, t.model.to_json())
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let mut v = serde_json::to_value(&t.report)?;
    v["model"] = json!(a.out.display().to_string());
    v["features_kept"] = json!(t.model.features.len());
    out.value(&v, train_human);
    Ok(())
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|r| format!("{:.1} %", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn train_human(v: &Value) -> String {
    let mut s = format!(
        "trained on {} ({} rows, {} bad = {}), target {} = {:?} is bad, seed {}\n\
         split 70/30 stratified: {} training rows, {} test rows\n\
         test AUC {:.4}   KS {:.4}   5-fold CV AUC {:.4} (folds {})\n\
         bad rate per grade on the test rows (all rows):\n",
        v["file"].as_str().unwrap_or_default(),
        v["rows"],
        v["bads"],
        pct(&v["bad_rate"]),
        v["target"].as_str().unwrap_or_default(),
        v["positive"].as_str().unwrap_or_default(),
        v["seed"],
        v["train_rows"],
        v["test_rows"],
        v["test_auc"].as_f64().unwrap_or_default(),
        v["test_ks"].as_f64().unwrap_or_default(),
        v["cv_auc"].as_f64().unwrap_or_default(),
        v["cv_fold_aucs"]
            .as_array()
            .map(|a| a
                .iter()
                .map(|x| format!("{:.3}", x.as_f64().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default(),
    );
    let empty = vec![];
    let all = v["all_grades"].as_array().unwrap_or(&empty);
    for (i, g) in v["test_grades"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let a = &all.get(i).cloned().unwrap_or(Value::Null);
        s.push_str(&format!(
            "  {}  {:>4} rows  {:>7}   ({:>4} rows  {:>7})\n",
            g["grade"].as_str().unwrap_or_default(),
            g["rows"],
            pct(&g["bad_rate"]),
            a["rows"],
            pct(&a["bad_rate"]),
        ));
    }
    s.push_str("features (information value on the training rows):\n");
    for f in v["features"].as_array().unwrap_or(&empty) {
        s.push_str(&format!(
            "  {:<8} {:<60} IV {:>6}  {}\n",
            if f["kept"].as_bool().unwrap_or(false) {
                "kept"
            } else {
                "dropped"
            },
            f["name"].as_str().unwrap_or_default(),
            f["iv"]
                .as_f64()
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into()),
            f["note"].as_str().unwrap_or_default(),
        ));
    }
    s.push_str(&format!(
        "training took {} ms; model written to {}",
        v["training_ms"],
        v["model"].as_str().unwrap_or_default()
    ));
    s
}

/// Columns the scored CSV adds.
const SCORE_COLUMNS: [&str; 3] = ["score", "grade", "reason_codes"];

fn score_cmd(a: ScoreArgs, out: &Out) -> anyhow::Result<()> {
    let model = read_model(&a.model)?;
    let table = Table::read(&a.data).map_err(cli_error)?;
    for c in SCORE_COLUMNS {
        if table.column(c).is_some() {
            return Err(CliError::new(
                "invalid_data",
                format!(
                    "{}: the file already has a column {c:?}, which the scored file adds; rename it",
                    table.file
                ),
            )
            .into());
        }
    }
    let scores = score_table(&model, &table).map_err(cli_error)?;
    let mut w = csv::Writer::from_path(&a.out)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let mut header = table.headers.clone();
    header.extend(SCORE_COLUMNS.iter().map(|s| s.to_string()));
    w.write_record(&header)?;
    let mut per_grade = [0u64; 6];
    for (row, s) in table.rows.iter().zip(&scores) {
        let mut rec = row.clone();
        rec.push(s.score.to_string());
        rec.push(s.grade.to_string());
        rec.push(s.reason_codes.join(";"));
        w.write_record(&rec)?;
        per_grade[s.grade as usize] += 1;
    }
    w.flush()?;
    let grades: serde_json::Map<String, Value> = Grade::ALL
        .iter()
        .map(|g| (g.to_string(), json!(per_grade[*g as usize])))
        .collect();
    let v = json!({
        "rows": scores.len(),
        "out": a.out.display().to_string(),
        "grades": grades,
    });
    out.value(&v, |v| {
        format!(
            "scored {} rows into {}; rows per grade: {}",
            v["rows"],
            v["out"].as_str().unwrap_or_default(),
            Grade::ALL
                .iter()
                .map(|g| format!("{g} {}", v["grades"][g.to_string()]))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    Ok(())
}
