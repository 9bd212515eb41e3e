//! The credit module on a real dev node: the dev account is the administrator and a scorer, the
//! German Credit model is published at genesis, a scorer publishes and retires a model, and a
//! stranger, a bad document and an unknown id are refused with their codes.

use crate::common;

use common::*;
use reqwest::StatusCode;
use want_node::config::{DEV_CREDIT_MODEL_JSON, DEV_CREDIT_MODEL_NAME};
use want_types::modules::credit::{model_id, CreditCall};
use want_types::{Call, Transaction};

/// A fee above what a model's weight asks on the dev chain (100 WANT).
const MODEL_FEE: u128 = 100_000_000;

async fn send_heavy(
    n: &TestNode,
    key: &want_crypto::SigningKey,
    call: CreditCall,
) -> (StatusCode, serde_json::Value) {
    let nonce = n.nonce(&key.address()).await;
    let stx = key.sign_transaction(Transaction {
        chain_id: want_node::config::DEV_CHAIN_ID,
        from: key.address(),
        nonce,
        fee: MODEL_FEE,
        expiry_ms: now_ms() + 600_000,
        pow_nonce: 0,
        call: Call::Credit(call),
    });
    n.submit(&stx, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_chain_has_a_scorer_and_a_model_and_a_scorer_publishes_and_retires_one() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();

    // Genesis: the dev account administers and scores; the German model is published.
    let s = n.get_ok("/v1/credit/scorers").await;
    assert_eq!(s["admin"], dev.address().to_string(), "{s}");
    assert_eq!(s["scorers"][0], dev.address().to_string(), "{s}");
    let canonical =
        serde_json::to_string(&want_scorecard::Model::from_json(DEV_CREDIT_MODEL_JSON).unwrap())
            .unwrap();
    let id = model_id(&dev.address(), &canonical);
    let m = n
        .get_ok(&format!("/v1/credit/models/{}", id.to_hex()))
        .await;
    assert_eq!(m["name"], DEV_CREDIT_MODEL_NAME, "{m}");
    assert_eq!(m["version"], 1);
    assert!(m["retired_ms"].is_null());
    // The document is served as stored: its canonical bytes, from which the id is computed.
    let raw = n
        .get_text(&format!("/v1/credit/models/{}", id.to_hex()))
        .await;
    assert!(
        raw.contains(&canonical),
        "the served document is not the stored bytes"
    );
    // Lists carry summaries, not documents.
    let page = n.get_ok("/v1/credit/models").await;
    assert!(page["models"][0]["model"].is_null(), "{page}");

    // A second model under the same name is version 2; its scorer retires it.
    let mut doc: serde_json::Value = serde_json::from_str(DEV_CREDIT_MODEL_JSON).unwrap();
    doc["target"] = serde_json::json!("risk");
    let (s, v) = send_heavy(
        &n,
        &dev,
        CreditCall::PublishModel {
            name: DEV_CREDIT_MODEL_NAME.into(),
            model: doc.to_string(),
        },
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["receipt"]["status"], "success", "{v}");
    let event = &v["receipt"]["events"][1];
    assert_eq!(event["type"], "ModelPublished", "{v}");
    assert_eq!(event["version"], 2, "{v}");
    let id2 = event["model"].as_str().unwrap().to_string();
    let page = n.get_ok("/v1/credit/models?limit=1").await;
    assert_eq!(page["models"].as_array().unwrap().len(), 1, "{page}");
    let rest = n
        .get_ok(&format!(
            "/v1/credit/models?after={}",
            page["next"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest["models"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next"].is_null());

    let v = send_call_ok(
        &n,
        &dev,
        CreditCall::RetireModel {
            model: id2.parse().unwrap(),
        },
    )
    .await;
    assert_eq!(v["receipt"]["events"][1]["type"], "ModelRetired", "{v}");
    let m2 = n.get_ok(&format!("/v1/credit/models/{id2}")).await;
    assert!(m2["retired_ms"].as_u64().is_some(), "{m2}");

    // A stranger publishes nothing; a broken document is refused naming the problem (both at
    // admission, nothing charged).
    let stranger = new_key();
    let fund = transfer(
        &dev,
        n.nonce(&dev.address()).await,
        stranger.address(),
        1_000_000_000,
    );
    n.commit(&fund).await;
    let (s, v) = send_heavy(
        &n,
        &stranger,
        CreditCall::PublishModel {
            name: "mine".into(),
            model: DEV_CREDIT_MODEL_JSON.into(),
        },
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("credit_scorer_unknown")),
        "{v}"
    );
    let (s, v) = send_heavy(
        &n,
        &dev,
        CreditCall::PublishModel {
            name: "broken".into(),
            model: "{\"format\": \"want-scorecard/1\"}".into(),
        },
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("credit_model_invalid")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("want-scorecard"),
        "{v}"
    );

    // Unknown and malformed ids.
    let (s, v) = n
        .get(&format!("/v1/credit/models/{}", "ab".repeat(32)))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("credit_model_unknown")),
        "{v}"
    );
    let (s, v) = n.get("/v1/credit/models/xyz").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    n.stop().await;
}
