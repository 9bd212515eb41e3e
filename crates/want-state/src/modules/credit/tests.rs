use want_types::modules::credit::{model_id, CreditCall, CreditEvent, MODEL_JSON_BYTES_MAX};
use want_types::{Address, Call, Event, Hash32, Receipt};

use super::state::{self, ADMIN_KEY};
use super::*;
use crate::testutil::*;
use crate::MemState;

/// The German Credit development model (want-scorecard/1), as the CLI trains it.
const GERMAN: &str = include_str!("../../../../../testdata/credit/german-model.json");

fn admin() -> Address {
    addr(1)
}
fn scorer() -> Address {
    addr(2)
}
fn stranger() -> Address {
    addr(3)
}

struct World {
    ms: MemState,
    height: u64,
}

impl World {
    fn new() -> World {
        let mut ms = state_with(&[
            (admin(), 1_000_000_000_000),
            (scorer(), 1_000_000_000_000),
            (stranger(), 1_000_000_000_000),
        ]);
        ms.0.insert(ADMIN_KEY.to_vec(), borsh::to_vec(&admin()).unwrap());
        World { ms, height: 1 }
    }

    fn call(&mut self, who: Address, c: CreditCall) -> Receipt {
        let nonce = crate::query::nonce(&self.ms, &who).unwrap();
        let mut t = tx_call(nonce, Call::Credit(c));
        t.fee = 100_000_000; // above any fee these calls' weights ask
        let out = run_at(&mut self.ms, self.height, NOW_MS + self.height, vec![(who, t)]);
        self.height += 1;
        out.receipts.into_iter().next().unwrap()
    }

    fn ok(&mut self, who: Address, c: CreditCall) -> Vec<Event> {
        let r = self.call(who, c);
        assert!(r.is_success(), "{r:?}");
        r.events
            .into_iter()
            .filter(|e| matches!(e, Event::Credit(_)))
            .collect()
    }

    fn fails(&mut self, who: Address, c: CreditCall, expected: &str) {
        let before = self.ms.clone();
        let r = self.call(who, c);
        assert_eq!(code(&r), ("failed", expected), "{r:?}");
        // Nothing of the module changed.
        let credit = |m: &MemState| {
            m.0.iter()
                .filter(|(k, _)| k.starts_with(b"credit/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(credit(&before), credit(&self.ms));
    }

    fn with_scorer() -> World {
        let mut w = World::new();
        w.ok(admin(), CreditCall::RegisterScorer { scorer: scorer() });
        w
    }
}

/// The stored form of a document: the model re-encoded compactly.
fn canonical(doc: &str) -> String {
    serde_json::to_string(&want_scorecard::Model::from_json(doc).unwrap()).unwrap()
}

fn publish(name: &str, model: &str) -> CreditCall {
    CreditCall::PublishModel {
        name: name.into(),
        model: model.into(),
    }
}

#[test]
fn the_administrator_registers_and_removes_scorers() {
    let mut w = World::new();
    assert_eq!(
        w.ok(admin(), CreditCall::RegisterScorer { scorer: scorer() }),
        vec![Event::Credit(CreditEvent::ScorerRegistered { scorer: scorer() })]
    );
    assert_eq!(state::scorers(&w.ms).unwrap(), vec![scorer()]);
    w.fails(admin(), CreditCall::RegisterScorer { scorer: scorer() }, CREDIT_SCORER_REGISTERED);
    w.fails(stranger(), CreditCall::RegisterScorer { scorer: stranger() }, CREDIT_ADMIN_ONLY);
    w.fails(stranger(), CreditCall::RemoveScorer { scorer: scorer() }, CREDIT_ADMIN_ONLY);
    w.ok(admin(), CreditCall::RemoveScorer { scorer: scorer() });
    assert!(state::scorers(&w.ms).unwrap().is_empty());
    w.fails(admin(), CreditCall::RemoveScorer { scorer: scorer() }, CREDIT_SCORER_UNKNOWN);
}

#[test]
fn a_chain_without_an_administrator_registers_no_scorer() {
    let mut w = World::new();
    w.ms.0.remove(ADMIN_KEY);
    w.fails(admin(), CreditCall::RegisterScorer { scorer: scorer() }, CREDIT_ADMIN_ONLY);
}

#[test]
fn a_scorer_publishes_a_model_in_canonical_form_and_versions_it_by_name() {
    let mut w = World::with_scorer();
    let canonical = canonical(GERMAN);
    let id = model_id(&scorer(), &canonical);
    // Whitespace does not make another model: the canonical form is stored and hashed.
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(GERMAN).unwrap()).unwrap();
    let events = w.ok(scorer(), publish("german", &compact));
    assert_eq!(
        events,
        vec![Event::Credit(CreditEvent::ModelPublished {
            model: id,
            scorer: scorer(),
            name: "german".into(),
            version: 1,
        })]
    );
    let m = state::model(&w.ms, &id).unwrap().unwrap();
    assert_eq!((m.json.as_str(), m.version, m.retired_ms), (canonical.as_str(), 1, None));
    w.fails(scorer(), publish("german", GERMAN), CREDIT_MODEL_EXISTS);
    // Another scorer's copy is its own model, under its own id: nobody takes a scorer's id.
    w.ok(admin(), CreditCall::RegisterScorer { scorer: stranger() });
    let events = w.ok(stranger(), publish("german", GERMAN));
    assert!(matches!(
        &events[0],
        Event::Credit(CreditEvent::ModelPublished { model, version: 1, .. }) if *model == model_id(&stranger(), &canonical)
    ));
    assert_ne!(model_id(&stranger(), &canonical), id);
    // Another model under the same name is version 2.
    let mut v2: serde_json::Value = serde_json::from_str(GERMAN).unwrap();
    v2["target"] = serde_json::json!("credit_risk_2");
    let events = w.ok(scorer(), publish("german", &v2.to_string()));
    assert!(matches!(
        &events[0],
        Event::Credit(CreditEvent::ModelPublished { version: 2, .. })
    ));
    let page = state::models(&w.ms, None, 10).unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next, None);
}

#[test]
fn bad_models_and_strangers_are_refused() {
    let mut w = World::with_scorer();
    w.fails(stranger(), publish("german", GERMAN), CREDIT_SCORER_UNKNOWN);
    w.fails(scorer(), publish("", GERMAN), CREDIT_MODEL_INVALID);
    w.fails(scorer(), publish("bad name", GERMAN), CREDIT_MODEL_INVALID);
    w.fails(scorer(), publish("german", "{"), CREDIT_MODEL_INVALID);
    w.fails(scorer(), publish("german", "{\"format\": \"want-scorecard/9\"}"), CREDIT_MODEL_INVALID);
    // Points that do not match the bins are caught by the scorecard's own validation.
    let mut broken: serde_json::Value = serde_json::from_str(GERMAN).unwrap();
    broken["features"][0]["bins"] = serde_json::json!([]);
    w.fails(scorer(), publish("german", &broken.to_string()), CREDIT_MODEL_INVALID);
    let mut inactive: serde_json::Value = serde_json::from_str(GERMAN).unwrap();
    inactive["active"] = serde_json::json!(false);
    w.fails(scorer(), publish("german", &inactive.to_string()), CREDIT_MODEL_INVALID);
}

#[test]
fn only_its_scorer_retires_a_model_and_only_once() {
    let mut w = World::with_scorer();
    w.ok(scorer(), publish("german", GERMAN));
    let id = model_id(&scorer(), &canonical(GERMAN));
    w.fails(scorer(), CreditCall::RetireModel { model: Hash32([9; 32]) }, CREDIT_MODEL_UNKNOWN);
    w.fails(stranger(), CreditCall::RetireModel { model: id }, CREDIT_MODEL_NOT_SCORERS);
    assert_eq!(
        w.ok(scorer(), CreditCall::RetireModel { model: id }),
        vec![Event::Credit(CreditEvent::ModelRetired { model: id })]
    );
    // The administrator retires any scorer's model (a removed or rogue scorer's).
    let mut other: serde_json::Value = serde_json::from_str(GERMAN).unwrap();
    other["target"] = serde_json::json!("risk");
    w.ok(scorer(), publish("german", &other.to_string()));
    let other_id = model_id(&scorer(), &canonical(&other.to_string()));
    w.ok(admin(), CreditCall::RemoveScorer { scorer: scorer() });
    w.ok(admin(), CreditCall::RetireModel { model: other_id });
    assert!(state::model(&w.ms, &other_id).unwrap().unwrap().retired_ms.is_some());
    assert!(state::model(&w.ms, &id).unwrap().unwrap().retired_ms.is_some());
    w.fails(scorer(), CreditCall::RetireModel { model: id }, CREDIT_MODEL_RETIRED);
}

#[test]
fn a_document_above_the_bound_is_refused_before_it_is_read() {
    let mut w = World::with_scorer();
    // The stored form is compact: the German model's is shorter than its pretty file.
    assert!(canonical(GERMAN).len() < GERMAN.len());
    w.fails(scorer(), publish("german", &"x".repeat(MODEL_JSON_BYTES_MAX + 1)), CREDIT_MODEL_INVALID);
}

#[test]
fn the_genesis_section_registers_scorers_and_publishes_models() {
    let a = addr(7);
    let model: serde_json::Value = serde_json::from_str(GERMAN).unwrap();
    let g = serde_json::json!({"admin": a, "scorers": [a], "models": [{"scorer": a, "name": "german-dev", "model": model}]});
    assert!(genesis::parse(Some(&g)).is_ok());
    let stranger_model = serde_json::json!({"scorers": [], "models": [{"scorer": a, "name": "x", "model": model}]});
    assert!(genesis::parse(Some(&stranger_model))
        .unwrap_err()
        .to_string()
        .contains("not one of the scorers"));
    assert!(genesis::parse(Some(&serde_json::json!({"bogus": 1}))).is_err());
    assert!(genesis::parse(Some(&serde_json::json!({"scorers": [a, a]})))
        .unwrap_err()
        .to_string()
        .contains("twice"));
}
