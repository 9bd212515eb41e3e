//! Scoring and validation tests, and property tests over random models and inputs.

use crate::*;
use proptest::prelude::*;

fn bin(label: &str, lower: Option<i128>, upper: Option<i128>, coef: i64, woe: i64) -> Bin {
    Bin {
        label: label.into(),
        lower: lower.map(|v| Fixed(v * FIXED_SCALE)),
        upper: upper.map(|v| Fixed(v * FIXED_SCALE)),
        categories: Vec::new(),
        woe_e6: woe,
        points_milli: expected_points_milli(coef, woe),
        rows: 0,
        bads: 0,
    }
}

fn cat_bin(cats: &[&str], coef: i64, woe: i64) -> Bin {
    Bin {
        label: cats.join("|"),
        lower: None,
        upper: None,
        categories: cats.iter().map(|c| c.to_string()).collect(),
        woe_e6: woe,
        points_milli: expected_points_milli(coef, woe),
        rows: 0,
        bads: 0,
    }
}

/// Two features: age (numeric, three bins) and housing (categorical, two bins).
fn small_model() -> Model {
    let ca = 1_000_000;
    let ch = 500_000;
    Model {
        format: FORMAT.into(),
        active: true,
        target: "default".into(),
        positive: "1".into(),
        scaling: Scaling::default(),
        intercept_e6: -800_000,
        base_points_milli: expected_base_points_milli(-800_000),
        features: vec![
            Feature {
                name: "age".into(),
                kind: FeatureKind::Numeric,
                coefficient_e6: ca,
                missing_bin: 0,
                bins: vec![
                    bin("[-inf,25)", None, Some(25), ca, 600_000),
                    bin("[25,40)", Some(25), Some(40), ca, 0),
                    bin("[40,inf)", Some(40), None, ca, -400_000),
                ],
            },
            Feature {
                name: "housing".into(),
                kind: FeatureKind::Categorical,
                coefficient_e6: ch,
                missing_bin: 1,
                bins: vec![
                    cat_bin(&["own"], ch, -300_000),
                    cat_bin(&["free", "rent"], ch, 400_000),
                ],
            },
        ],
        training: None,
    }
}

fn inputs(pairs: &[(&str, &str)]) -> Inputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_score_is_the_rounded_sum_of_base_and_bin_points() {
    let m = small_model();
    m.validate().unwrap();
    // base = 480 + 57.707802 · 0.8 = 526.1662416 → 526166 milli
    assert_eq!(m.base_points_milli, 526_166);
    let s = score(&m, &inputs(&[("age", "45"), ("housing", "own")])).unwrap();
    // age ≥ 40: −57.707802 · 1 · −0.4 = 23.083 ; own: −57.707802 · 0.5 · −0.3 = 8.656
    assert_eq!(s.total_points_milli, 526_166 + 23_083 + 8_656);
    assert_eq!(s.score, 558);
    assert_eq!(s.grade, Grade::D);
    assert!(s.reason_codes.is_empty(), "best bins give no reason");
    assert_eq!(s.bins, vec![2, 0]);
}

#[test]
fn bounds_are_half_open_and_missing_or_unseen_values_go_to_the_missing_bin() {
    let m = small_model();
    let f = &m.features[0];
    assert_eq!(f.bin_of(Some("24.999999")).unwrap(), 0);
    assert_eq!(f.bin_of(Some("25")).unwrap(), 1);
    assert_eq!(f.bin_of(Some("40")).unwrap(), 2);
    assert_eq!(f.bin_of(Some("-1000")).unwrap(), 0);
    assert_eq!(f.bin_of(None).unwrap(), 0);
    assert_eq!(f.bin_of(Some("  ")).unwrap(), 0);
    let h = &m.features[1];
    assert_eq!(h.bin_of(Some("castle")).unwrap(), 1, "unseen category");
    assert_eq!(
        h.bin_of(Some("Own")).unwrap(),
        1,
        "categories match exactly"
    );
}

#[test]
fn a_non_numeric_value_of_a_numeric_feature_is_refused_naming_the_feature() {
    let e = score(&small_model(), &inputs(&[("age", "forty")])).unwrap_err();
    assert!(
        matches!(&e, ScorecardError::InvalidInput { feature, .. } if feature == "age"),
        "{e}"
    );
}

#[test]
fn reason_codes_are_the_largest_shortfalls_first_with_ties_in_feature_order() {
    let m = small_model();
    let s = score(&m, &inputs(&[("age", "20"), ("housing", "rent")])).unwrap();
    // age: best 23.083, got −34.625: shortfall 57.708 ; housing: best 8.656, got −11.542
    assert_eq!(s.reason_codes, vec!["age:[-inf,25)", "housing:free|rent"]);
}

#[test]
fn a_retired_model_scores_nothing() {
    let mut m = small_model();
    m.active = false;
    assert_eq!(score(&m, &Inputs::new()), Err(ScorecardError::Retired));
}

#[test]
fn grades_are_eighty_points_wide_from_f_to_a() {
    for (s, g) in [
        (800, Grade::A),
        (720, Grade::A),
        (719, Grade::B),
        (640, Grade::B),
        (639, Grade::C),
        (560, Grade::C),
        (559, Grade::D),
        (480, Grade::D),
        (479, Grade::E),
        (400, Grade::E),
        (399, Grade::F),
        (320, Grade::F),
    ] {
        assert_eq!(grade_of(s), g, "{s}");
    }
}

fn refused_at(m: &Model) -> String {
    match Model::from_json(&m.to_json()) {
        Err(ScorecardError::InvalidModel { path, .. }) => path,
        other => panic!("expected an invalid model, got {other:?}"),
    }
}

#[test]
fn validation_names_the_json_path_of_overlaps_gaps_and_bad_bounds() {
    let mut m = small_model();
    m.features[0].bins[1].lower = Some(Fixed(24 * FIXED_SCALE));
    assert_eq!(refused_at(&m), "features[0].bins[1].lower");
    let text = Model::from_json(&{
        let mut g = small_model();
        g.features[0].bins[1].lower = Some(Fixed(26 * FIXED_SCALE));
        g.to_json()
    });
    assert!(text.unwrap_err().to_string().contains("gap"));
    let mut m = small_model();
    m.features[0].bins[0].lower = Some(Fixed(0));
    assert_eq!(refused_at(&m), "features[0].bins[0].lower");
    let mut m = small_model();
    m.features[1].bins[1].categories.push("own".into());
    assert_eq!(refused_at(&m), "features[1].bins[1].categories[2]");
    let mut m = small_model();
    m.features[1].missing_bin = 2;
    assert_eq!(refused_at(&m), "features[1].missing_bin");
    let mut m = small_model();
    m.base_points_milli += 1;
    assert_eq!(refused_at(&m), "base_points_milli");
    let mut m = small_model();
    m.features[0].coefficient_e6 += 10_000;
    assert_eq!(refused_at(&m), "features[0].bins[0].points_milli");
    let mut m = small_model();
    m.scaling.points_to_double_odds = 20;
    assert_eq!(refused_at(&m), "scaling");
}

#[test]
fn malformed_json_and_unknown_formats_are_refused_with_their_path() {
    match Model::from_json("{\"format\": \"want-scorecard/1\", \"active\": \"yes\"}") {
        Err(ScorecardError::MalformedModel { path, .. }) => assert_eq!(path, "active"),
        other => panic!("{other:?}"),
    }
    match Model::from_json("not json") {
        Err(ScorecardError::MalformedModel { path, .. }) => assert_eq!(path, "$"),
        other => panic!("{other:?}"),
    }
    let mut m = small_model();
    m.format = "want-scorecard/2".into();
    assert!(matches!(
        Model::from_json(&m.to_json()),
        Err(ScorecardError::UnknownFormat { .. })
    ));
    let text = small_model()
        .to_json()
        .replace("\"upper\": \"25\"", "\"upper\": \"2e1\"");
    match Model::from_json(&text) {
        Err(ScorecardError::MalformedModel { path, .. }) => {
            assert_eq!(path, "features[0].bins[0].upper")
        }
        other => panic!("{other:?}"),
    }
}

prop_compose! {
    fn arb_numeric_feature(i: usize)(
        cuts in prop::collection::btree_set(-1_000i128..1_000, 0..6),
        coef in -3_000_000i64..3_000_000,
        woes in prop::collection::vec(-4_000_000i64..4_000_000, 7),
        missing in 0usize..7,
    ) -> Feature {
        let cuts: Vec<i128> = cuts.into_iter().collect();
        let n = cuts.len() + 1;
        let bins = (0..n).map(|j| {
            let lo = j.checked_sub(1).map(|k| cuts[k]);
            let hi = cuts.get(j).copied();
            bin(&format!("b{j}"), lo, hi, coef, woes[j])
        }).collect();
        Feature {
            name: format!("f{i}"),
            kind: FeatureKind::Numeric,
            coefficient_e6: coef,
            missing_bin: missing % n,
            bins,
        }
    }
}

fn arb_model() -> impl Strategy<Value = Model> {
    (
        prop::collection::vec(0usize..1, 1..8),
        -20_000_000i64..20_000_000,
    )
        .prop_flat_map(|(fs, intercept)| {
            let feats: Vec<_> = (0..fs.len()).map(arb_numeric_feature).collect();
            (feats, Just(intercept))
        })
        .prop_map(|(features, intercept)| Model {
            format: FORMAT.into(),
            active: true,
            target: "y".into(),
            positive: "1".into(),
            scaling: Scaling::default(),
            intercept_e6: intercept,
            base_points_milli: expected_base_points_milli(intercept),
            features,
            training: None,
        })
}

fn arb_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        (-2_000_000_000i64..2_000_000_000).prop_map(|v| Some(Fixed(i128::from(v)).to_string())),
    ]
}

proptest! {
    #[test]
    fn every_score_is_within_range_and_its_grade_matches(
        m in arb_model(),
        vals in prop::collection::vec(arb_value(), 8),
    ) {
        m.validate().unwrap();
        let values: Vec<Option<&str>> =
            (0..m.features.len()).map(|i| vals[i].as_deref()).collect();
        let s = score_values(&m, &values).unwrap();
        prop_assert!((SCORE_MIN..=SCORE_MAX).contains(&s.score));
        prop_assert_eq!(s.grade, grade_of(s.score));
        prop_assert!(s.score >= s.grade.floor());
        prop_assert!(s.reason_codes.len() <= REASON_CODES_MAX);
        // The same subject by name gives the same result.
        let by_name: Inputs = m.features.iter().zip(&values)
            .filter_map(|(f, v)| v.map(|v| (f.name.clone(), v.to_string()))).collect();
        prop_assert_eq!(score(&m, &by_name).unwrap(), s);
    }

    #[test]
    fn a_model_round_trips_through_json(m in arb_model()) {
        let text = m.to_json();
        prop_assert_eq!(Model::from_json(&text).unwrap(), m.clone());
        prop_assert_eq!(Model::from_json(&text).unwrap().to_json(), text);
    }

    #[test]
    fn validation_refuses_a_model_with_one_point_changed(
        m in arb_model(),
        f in 0usize..8,
        b in 0usize..8,
        delta in prop_oneof![-1_000i64..0, 1i64..1_000],
    ) {
        let mut m = m;
        let f = f % m.features.len();
        let b = b % m.features[f].bins.len();
        m.features[f].bins[b].points_milli += delta;
        match Model::from_json(&m.to_json()) {
            Err(ScorecardError::InvalidModel { path, .. }) => {
                prop_assert_eq!(path, format!("features[{f}].bins[{b}].points_milli"))
            }
            other => prop_assert!(false, "not refused: {:?}", other),
        }
    }
}
