//! Training on the German credit data (testdata/credit/germancredit.csv): the quality bar, byte
//! for byte reproducibility, and the refusals of bad training files.

use std::path::{Path, PathBuf};
use want_scorecard::train::{score_table, train, Table, TrainOptions};
use want_scorecard::{Grade, Model, ScorecardError};

fn german_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/credit/germancredit.csv")
}

fn german() -> Table {
    Table::read(&german_path()).unwrap()
}

/// Grades need this many rows before their bad rate counts in the monotonicity check.
const GRADE_ROWS_MIN: u64 = 20;

#[test]
fn german_credit_meets_the_quality_bar() {
    let t = train(&german(), &TrainOptions::new("creditability")).unwrap();
    let r = &t.report;
    assert_eq!(
        (r.rows, r.bads, r.train_rows, r.test_rows),
        (1000, 300, 700, 300)
    );
    assert!(r.test_auc >= 0.80, "test AUC {}", r.test_auc);
    assert!(r.cv_auc >= 0.78, "5-fold CV AUC {}", r.cv_auc);
    assert!(r.test_ks >= 0.40, "KS {}", r.test_ks);
    // Observed bad rates rise from A to F over the grades with enough rows, on the test rows and
    // on all rows.
    for grades in [&r.test_grades, &r.all_grades] {
        let rates: Vec<(Grade, f64)> = grades
            .iter()
            .filter(|g| g.rows >= GRADE_ROWS_MIN)
            .map(|g| (g.grade, g.bad_rate.unwrap()))
            .collect();
        assert!(rates.len() >= 4, "{grades:?}");
        assert!(
            rates.windows(2).all(|w| w[0].1 < w[1].1),
            "bad rates do not rise: {rates:?}"
        );
    }
}

#[test]
fn training_on_a_fixed_file_gives_the_same_model_byte_for_byte() {
    let a = train(&german(), &TrainOptions::new("creditability")).unwrap();
    let b = train(&german(), &TrainOptions::new("creditability")).unwrap();
    let text = a.model.to_json();
    assert_eq!(text, b.model.to_json());
    // The model file kept in testdata is this training's output (regenerate it if training
    // changes on purpose: `want credit train --data testdata/credit/germancredit.csv --target
    // creditability --out testdata/credit/german-model.json`).
    let kept = std::fs::read_to_string(german_path().with_file_name("german-model.json")).unwrap();
    assert_eq!(text, kept);
    // Another seed draws another split.
    let mut o = TrainOptions::new("creditability");
    o.seed = 7;
    assert_ne!(train(&german(), &o).unwrap().model.to_json(), text);
}

#[test]
fn the_model_file_scores_every_row_as_training_did() {
    let t = train(&german(), &TrainOptions::new("creditability")).unwrap();
    let m = Model::from_json(&t.model.to_json()).unwrap();
    let scores = score_table(&m, &german()).unwrap();
    assert_eq!(scores.len(), 1000);
    let counted: u64 = t.report.all_grades.iter().map(|g| g.rows).sum();
    assert_eq!(counted, 1000);
    for g in &t.report.all_grades {
        assert_eq!(
            scores.iter().filter(|s| s.grade == g.grade).count() as u64,
            g.rows
        );
    }
}

fn write_csv(dir: &tempfile::TempDir, name: &str, text: &str) -> Table {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    Table::read(&p).unwrap()
}

/// 200 rows: x numeric and informative, c categorical, k constant.
fn synthetic(with: impl Fn(usize) -> String) -> String {
    let mut s = String::from("x,c,k,y\n");
    for i in 0..200 {
        s.push_str(&with(i));
        s.push('\n');
    }
    s
}

fn row(i: usize) -> String {
    let y = if (i * 7) % 10 < 3 + (i % 4) { "1" } else { "0" };
    format!("{},{},same,{y}", i % 50, ["a", "b", "c"][i % 3])
}

#[test]
fn a_missing_target_column_is_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let t = write_csv(&d, "a.csv", &synthetic(row));
    let e = train(&t, &TrainOptions::new("default")).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, ScorecardError::Data { column: Some(c), .. } if c == "default"),
        "{msg}"
    );
    assert!(
        msg.contains("a.csv") && msg.contains("no target column"),
        "{msg}"
    );
}

#[test]
fn a_constant_column_is_dropped_with_a_note() {
    let d = tempfile::tempdir().unwrap();
    let t = write_csv(&d, "a.csv", &synthetic(row));
    let r = train(&t, &TrainOptions::new("y")).unwrap();
    let k = r.report.features.iter().find(|f| f.name == "k").unwrap();
    assert!(!k.kept);
    assert!(k.note.as_deref().unwrap().contains("constant"), "{k:?}");
    assert!(r.model.features.iter().all(|f| f.name != "k"));
    assert_eq!(
        r.report.positive, "1",
        "the default positive value without a 'bad'"
    );
}

#[test]
fn a_non_number_in_a_declared_numeric_column_is_refused_with_row_and_column() {
    let d = tempfile::tempdir().unwrap();
    let t = write_csv(
        &d,
        "a.csv",
        &synthetic(|i| {
            if i == 5 {
                "n/a,a,same,1".into()
            } else {
                row(i)
            }
        }),
    );
    // Undeclared, the column is categorical.
    assert!(train(&t, &TrainOptions::new("y")).is_ok());
    let mut o = TrainOptions::new("y");
    o.numeric = vec!["x".into()];
    let e = train(&t, &o).unwrap_err();
    assert!(
        matches!(&e, ScorecardError::Data { row: Some(7), column: Some(c), .. } if c == "x"),
        "{e}"
    );
    assert!(e.to_string().contains("not a number"), "{e}");
}

#[test]
fn a_target_with_one_class_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let t = write_csv(&d, "a.csv", &synthetic(|i| format!("{i},a,same,0")));
    let e = train(&t, &TrainOptions::new("y")).unwrap_err();
    assert!(e.to_string().contains("one class"), "{e}");
    let mut o = TrainOptions::new("y");
    o.positive = Some("yes".into());
    let t = write_csv(&d, "b.csv", &synthetic(row));
    let e = train(&t, &o).unwrap_err();
    assert!(e.to_string().contains("one class"), "{e}");
}

#[test]
fn too_few_rows_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut s = String::from("x,y\n");
    for i in 0..50 {
        s.push_str(&format!("{i},{}\n", i % 2));
    }
    let t = write_csv(&d, "a.csv", &s);
    let e = train(&t, &TrainOptions::new("y")).unwrap_err();
    assert!(e.to_string().contains("too few rows"), "{e}");
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_refused_with_its_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.csv");
    std::fs::write(&p, "x,y\n1,0\n2,1,9\n").unwrap();
    let e = Table::read(&p).unwrap_err();
    assert!(
        matches!(&e, ScorecardError::Data { row: Some(3), .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("3 fields but the header has 2"),
        "{e}"
    );
}

fn german_model() -> Model {
    let text = std::fs::read_to_string(german_path().with_file_name("german-model.json")).unwrap();
    Model::from_json(&text).unwrap()
}

/// A value that falls in bin `j` of feature `f` (numeric: its lower bound, or one below the
/// upper bound of the first bin; categorical: its first category).
fn value_in(f: &want_scorecard::Feature, j: usize) -> String {
    let b = &f.bins[j];
    match f.kind {
        want_scorecard::FeatureKind::Numeric => match (b.lower, b.upper) {
            (Some(lo), _) => lo.to_string(),
            (None, Some(hi)) => {
                want_scorecard::Fixed(hi.0 - want_scorecard::FIXED_SCALE).to_string()
            }
            (None, None) => "0".into(),
        },
        want_scorecard::FeatureKind::Categorical => b.categories[0].clone(),
    }
}

fn next(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> usize {
    use rand_chacha::rand_core::RngCore;
    (rng.next_u64() % n as u64) as usize
}

#[test]
fn grades_are_monotone_in_a_population_simulated_from_the_scaling() {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    // Subjects draw each feature's bin at random; each defaults with the probability the
    // scaling gives its points: odds of default = 2^((480 − points) / 40).
    let m = german_model();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut per_grade = [(0u64, 0u64); 6];
    for _ in 0..40_000 {
        let inputs: want_scorecard::Inputs = m
            .features
            .iter()
            .map(|f| (f.name.clone(), value_in(f, next(&mut rng, f.bins.len()))))
            .collect();
        let s = want_scorecard::score(&m, &inputs).unwrap();
        let points = s.total_points_milli as f64 / 1000.0;
        let pd = 1.0 / (1.0 + 2f64.powf((points - 480.0) / 40.0));
        let bad = (rng.next_u64() as f64 / u64::MAX as f64) < pd;
        let g = &mut per_grade[s.grade as usize];
        g.0 += 1;
        g.1 += u64::from(bad);
    }
    let rates: Vec<(Grade, f64)> = Grade::ALL
        .iter()
        .zip(per_grade)
        .filter(|(_, (n, _))| *n >= 200)
        .map(|(g, (n, b))| (*g, b as f64 / n as f64))
        .collect();
    assert!(rates.len() >= 4, "{per_grade:?}");
    assert!(rates.windows(2).all(|w| w[0].1 < w[1].1), "{rates:?}");
    // Each grade's bad rate lies within the odds its score range stands for (±0.03).
    for (g, r) in &rates {
        let top = if *g == Grade::A {
            800.0
        } else {
            f64::from(g.floor()) + 80.0
        };
        let lo = 1.0 / (1.0 + 2f64.powf((top - 480.0) / 40.0));
        let hi = 1.0 / (1.0 + 2f64.powf((f64::from(g.floor()) - 480.0) / 40.0));
        let hi = if *g == Grade::F { 1.0 } else { hi };
        assert!(
            *r >= lo - 0.03 && *r <= hi + 0.03,
            "{g}: {r} not in {lo}..{hi}"
        );
    }
}

#[test]
fn scoring_a_csv_equals_scoring_by_name_for_random_subjects() {
    use rand_chacha::rand_core::SeedableRng;
    // The CLI's path (CSV → score_table) and the chain's (inputs by name → score) agree, with
    // values in every bin, missing values and unseen categories.
    let m = german_model();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let names: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&names).unwrap();
    let mut subjects = Vec::new();
    for _ in 0..2_000 {
        let row: Vec<String> = m
            .features
            .iter()
            .map(|f| match next(&mut rng, 10) {
                0 => String::new(),
                1 if f.kind == want_scorecard::FeatureKind::Categorical => "never seen".into(),
                1 => format!("{}.{}", next(&mut rng, 100_000), next(&mut rng, 1_000_000)),
                _ => value_in(f, next(&mut rng, f.bins.len())),
            })
            .collect();
        w.write_record(&row).unwrap();
        subjects.push(row);
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("subjects.csv");
    std::fs::write(&p, w.into_inner().unwrap()).unwrap();
    let by_csv = score_table(&m, &Table::read(&p).unwrap()).unwrap();
    assert_eq!(by_csv.len(), subjects.len());
    for (row, s) in subjects.iter().zip(&by_csv) {
        let inputs: want_scorecard::Inputs = names
            .iter()
            .zip(row)
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        assert_eq!(&want_scorecard::score(&m, &inputs).unwrap(), s);
    }
}
