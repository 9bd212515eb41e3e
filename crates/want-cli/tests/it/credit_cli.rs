//! `want credit train|score` (offline): training twice gives the same model bytes, scoring keeps
//! the input's rows and columns, and bad inputs are refused with their codes and exit 1. On a
//! `want dev` chain: `want credit model publish|show|list|retire` and `want credit scorer list`.

use std::path::{Path, PathBuf};

use super::common::{want, want_json, DevNode};

fn german() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/credit/germancredit.csv")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn train_german(out: &Path) -> serde_json::Value {
    train_german_seed(out, "42")
}

fn train_german_seed(out: &Path, seed: &str) -> serde_json::Value {
    want_json(&[
        "credit",
        "train",
        "--data",
        s(&german()),
        "--target",
        "creditability",
        "--positive",
        "bad",
        "--seed",
        seed,
        "--out",
        s(out),
    ])
    .ok_json()
}

#[test]
fn credit_train_twice_writes_the_same_model_bytes_and_reports_the_quality() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a.json"), d.path().join("b.json"));
    let ra = train_german(&a);
    train_german(&b);
    let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ta, tb);
    // The model kept in testdata is this command's output.
    assert_eq!(
        ta,
        std::fs::read(german().with_file_name("german-model.json")).unwrap()
    );
    assert!(ra["test_auc"].as_f64().unwrap() >= 0.80, "{ra}");
    assert!(ra["cv_auc"].as_f64().unwrap() >= 0.78, "{ra}");
    assert_eq!(ra["rows"], 1000);
    assert_eq!(ra["test_grades"].as_array().unwrap().len(), 6);
    // The human report names the measures.
    let h = want(&[
        "credit",
        "train",
        "--data",
        s(&german()),
        "--target",
        "creditability",
        "--out",
        s(&a),
    ]);
    assert_eq!(h.code, Some(0), "{}", h.stderr);
    for w in ["test AUC", "KS", "5-fold CV AUC", "bad rate per grade"] {
        assert!(h.stdout.contains(w), "{w} missing from:\n{}", h.stdout);
    }
}

#[test]
fn credit_score_writes_every_input_row_with_score_grade_and_reasons() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m.json");
    train_german(&model);
    let out = d.path().join("scores.csv");
    let v = want_json(&[
        "credit",
        "score",
        "--model",
        s(&model),
        "--data",
        s(&german()),
        "--out",
        s(&out),
    ])
    .ok_json();
    assert_eq!(v["rows"], 1000);
    let mut input = csv::Reader::from_path(german()).unwrap();
    let mut scored = csv::Reader::from_path(&out).unwrap();
    let ih: Vec<String> = input.headers().unwrap().iter().map(String::from).collect();
    let sh: Vec<String> = scored.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(sh.len(), ih.len() + 3);
    assert_eq!(&sh[..ih.len()], &ih[..]);
    assert_eq!(&sh[ih.len()..], ["score", "grade", "reason_codes"]);
    let irows: Vec<csv::StringRecord> = input.records().map(Result::unwrap).collect();
    let srows: Vec<csv::StringRecord> = scored.records().map(Result::unwrap).collect();
    assert_eq!(srows.len(), irows.len());
    for (i, o) in irows.iter().zip(&srows) {
        // Same row in the same order.
        assert_eq!(
            i.iter().collect::<Vec<_>>(),
            o.iter().take(ih.len()).collect::<Vec<_>>()
        );
        let score: u16 = o[ih.len()].parse().unwrap();
        assert!((320..=800).contains(&score));
        assert_eq!(
            o[ih.len() + 1].to_string(),
            want_scorecard::grade_of(score).to_string()
        );
        let reasons = &o[ih.len() + 2];
        assert!(reasons.is_empty() || reasons.split(';').count() <= 4);
    }
}

fn write(d: &Path, name: &str, text: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn train_err(data: &Path, target: &str, extra: &[&str], out: &Path) -> (String, String) {
    let mut args = vec![
        "credit",
        "train",
        "--data",
        s(data),
        "--target",
        target,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let r = want_json(&args);
    let msg = r.err_code("invalid_data");
    (msg, r.stdout)
}

#[test]
fn credit_train_refuses_bad_files_naming_file_row_and_column() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let mut good = String::from("x,y\n");
    for i in 0..200 {
        good.push_str(&format!("{},{}\n", i % 40, u8::from(i % 3 == 0)));
    }
    let f = write(d.path(), "good.csv", &good);
    let (m, _) = train_err(&f, "target", &[], &out);
    assert!(
        m.contains("good.csv") && m.contains("no target column"),
        "{m}"
    );

    let mut one = String::from("x,y\n");
    for i in 0..200 {
        one.push_str(&format!("{i},0\n"));
    }
    let f = write(d.path(), "one.csv", &one);
    let (m, _) = train_err(&f, "y", &[], &out);
    assert!(m.contains("one class"), "{m}");

    let f = write(d.path(), "few.csv", "x,y\n1,0\n2,1\n");
    let (m, _) = train_err(&f, "y", &[], &out);
    assert!(m.contains("too few rows"), "{m}");

    let f = write(d.path(), "ragged.csv", &format!("{good}5,1,extra\n"));
    let (m, _) = train_err(&f, "y", &[], &out);
    assert!(m.contains("row 202") && m.contains("3 fields"), "{m}");

    let f = write(d.path(), "nan.csv", &good.replacen("\n3,", "\nabc,", 1));
    let (m, _) = train_err(&f, "y", &["--numeric", "x"], &out);
    assert!(
        m.contains("row 5") && m.contains("column \"x\"") && m.contains("not a number"),
        "{m}"
    );
    assert!(!out.exists(), "no model is written on a refusal");
}

#[test]
fn credit_score_refuses_a_tampered_or_retired_model_and_a_non_number() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m.json");
    train_german(&model);
    let text = std::fs::read_to_string(&model).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let p = v["features"][0]["bins"][0]["points_milli"]
        .as_i64()
        .unwrap();
    let tampered = text.replacen(
        &format!("\"points_milli\": {p},"),
        &format!("\"points_milli\": {},", p + 1000),
        1,
    );
    assert_ne!(tampered, text);
    let t = write(d.path(), "t.json", &tampered);
    let out = d.path().join("o.csv");
    let score = |m: &Path, data: &Path| {
        want_json(&[
            "credit",
            "score",
            "--model",
            s(m),
            "--data",
            s(data),
            "--out",
            s(&out),
        ])
    };
    let r = score(&t, &german());
    let msg = r.err_code("invalid_model");
    assert!(msg.contains("points_milli"), "{msg}");
    assert_eq!(
        r.json()["error"]["path"],
        "features[0].bins[0].points_milli"
    );

    let retired = write(
        d.path(),
        "r.json",
        &text.replacen("\"active\": true", "\"active\": false", 1),
    );
    score(&retired, &german()).err_code("model_retired");

    let bad = write(d.path(), "m2.json", "{ not json");
    score(&bad, &german()).err_code("malformed_model");

    // The numeric feature duration_in_month (second column) with a word on line 4 of the file.
    let data = std::fs::read_to_string(german()).unwrap();
    let mut lines: Vec<String> = data.lines().map(String::from).collect();
    let (status, rest) = lines[3].split_once(',').unwrap();
    let (_, tail) = rest.split_once(',').unwrap();
    lines[3] = format!("{status},four,{tail}");
    let f = write(d.path(), "words.csv", &(lines.join("\n") + "\n"));
    let msg = score(&model, &f).err_code("invalid_data");
    assert!(
        msg.contains("row 4") && msg.contains("duration_in_month"),
        "{msg}"
    );
}

/// `want --json <args> --key-file <key> --node <url>`, expecting a committed success.
fn signed(args: &[&str], key: &Path, url: &str) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--key-file", s(key), "--node", url]);
    let v = want_json(&all).ok_json();
    assert_eq!(v["receipt"]["status"], "success", "{args:?}: {v}");
    v
}

#[test]
fn a_model_published_on_a_dev_chain_reads_back_and_scores_as_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let dev = data.join("dev-key.hex");

    // The dev chain's default model and its scorer.
    let scorers = want_json(&["credit", "scorer", "list", "--node", url]).ok_json();
    assert_eq!(
        scorers["scorers"].as_array().map(Vec::len),
        Some(1),
        "{scorers}"
    );
    let listed = want_json(&["credit", "model", "list", "--node", url]).ok_json();
    assert_eq!(listed["models"][0]["name"], "german-dev", "{listed}");

    // Train with another seed (another model), publish it, read it back to a file.
    let model = dir.path().join("model.json");
    let trained = train_german_seed(&model, "7");
    assert!(trained["test_auc"].as_f64().is_some(), "{trained}");
    let v = signed(
        &[
            "credit",
            "model",
            "publish",
            "--name",
            "german-7",
            "--model",
            s(&model),
        ],
        &dev,
        url,
    );
    let id = v["receipt"]["events"][1]["model"]
        .as_str()
        .unwrap()
        .to_string();
    let back = dir.path().join("back.json");
    let shown = want_json(&[
        "credit",
        "model",
        "show",
        &id,
        "--out",
        s(&back),
        "--node",
        url,
    ])
    .ok_json();
    assert_eq!(shown["version"], 1, "{shown}");
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&model).unwrap()
    );

    // Scoring with the chain's copy gives the file's numbers.
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for (m, out) in [(&model, &a), (&back, &b)] {
        want_json(&[
            "credit",
            "score",
            "--model",
            s(m),
            "--data",
            s(&german()),
            "--out",
            s(out),
        ])
        .ok_json();
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    // Retired, it says so.
    signed(&["credit", "model", "retire", &id], &dev, url);
    let shown = want_json(&["credit", "model", "show", &id, "--node", url]).ok_json();
    assert!(shown["retired_ms"].as_u64().is_some(), "{shown}");
}
