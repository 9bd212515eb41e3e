//! The credit module: the scorers the credit administrator registers and the scorecard models
//! they publish on chain (paper §4.3; issue 15). A model is a `want-scorecard/1` document,
//! checked by `want_scorecard::Model::from_json` (the CLI's own reader) and stored in its
//! canonical form (compact) under an id hashing its scorer and that form, so that anyone
//! holding a subject's inputs scores them with the public model and gets the chain's numbers. Scores, attestations, contests and
//! loans build on these (later).

pub mod genesis;
pub mod state;

#[cfg(test)]
mod tests;

use want_types::modules::credit::{
    model_id, model_name_ok, CreditCall, CreditEvent, MODEL_JSON_BYTES_MAX, MODEL_NAME_BYTES_MAX,
    SCORERS_MAX,
};
use want_types::{Address, ModuleId};

use crate::codes::ErrorCode;
use crate::failure::{fail, overflow, ExecError};
use crate::kernel::module::{CallCtx, GenesisCtx, Module};
use crate::store::Overlay;
use crate::StateView;
use state::StoredModel;

/// Failed: the sender is not the credit administrator.
pub const CREDIT_ADMIN_ONLY: &str = "credit_admin_only";
/// Failed: the account is already a scorer.
pub const CREDIT_SCORER_REGISTERED: &str = "credit_scorer_registered";
/// Failed: the account is not a scorer.
pub const CREDIT_SCORER_UNKNOWN: &str = "credit_scorer_unknown";
/// Failed: as many scorers as allowed are registered.
pub const CREDIT_SCORERS_FULL: &str = "credit_scorers_full";
/// Failed: the model document or its name is not valid.
pub const CREDIT_MODEL_INVALID: &str = "credit_model_invalid";
/// Failed: the very same model is already published.
pub const CREDIT_MODEL_EXISTS: &str = "credit_model_exists";
/// Failed (and 404 on the API): no model has that id.
pub const CREDIT_MODEL_UNKNOWN: &str = "credit_model_unknown";
/// Failed: the model is retired.
pub const CREDIT_MODEL_RETIRED: &str = "credit_model_retired";
/// Failed: the model is another scorer's.
pub const CREDIT_MODEL_NOT_SCORERS: &str = "credit_model_not_scorers";

const CODES: &[ErrorCode] = &[
    ErrorCode::new(CREDIT_ADMIN_ONLY, 403, "only the credit administrator (genesis credit.admin) registers and removes scorers"),
    ErrorCode::new(CREDIT_SCORER_REGISTERED, 409, "the account is already a scorer"),
    ErrorCode::new(CREDIT_SCORER_UNKNOWN, 403, "the account is not a registered scorer"),
    ErrorCode::new(CREDIT_SCORERS_FULL, 409, "as many scorers as allowed (64) are registered; remove one first"),
    ErrorCode::new(CREDIT_MODEL_INVALID, 400, "the model document (want-scorecard/1 JSON) or its name is not valid; the message names the JSON path"),
    ErrorCode::new(CREDIT_MODEL_EXISTS, 409, "the scorer already published the very same model (same canonical document)"),
    ErrorCode::new(CREDIT_MODEL_UNKNOWN, 404, "no model has that id"),
    ErrorCode::new(CREDIT_MODEL_RETIRED, 409, "the model is retired"),
    ErrorCode::new(CREDIT_MODEL_NOT_SCORERS, 403, "the model is another scorer's"),
];

/// Weight of registering or removing a scorer, or retiring a model, beyond the kernel's
/// per-transaction and per-byte weight (an estimate: a read and a write or two).
pub const REGISTRY_WEIGHT: u64 = 10_000;
/// Weight of publishing a model per byte of its document beyond the kernel's per-byte weight:
/// parsing, validating and re-encoding it (an estimate, ~15 ns a byte; to be measured by
/// `want bench weights`).
pub const PUBLISH_WEIGHT_PER_BYTE: u64 = 15;

/// The credit module.
pub struct Credit;

impl Module for Credit {
    const ID: ModuleId = ModuleId::Credit;
    type Call = CreditCall;

    fn codes() -> &'static [ErrorCode] {
        CODES
    }

    fn execute(ctx: &mut CallCtx<'_, '_>, call: &CreditCall) -> Result<(), ExecError> {
        let sender = ctx.sender;
        let now = ctx.block.timestamp_ms;
        let event = execute(ctx.state, sender, now, call)?;
        ctx.emit(event);
        Ok(())
    }

    fn weight(call: &CreditCall) -> u64 {
        match call {
            CreditCall::PublishModel { model, .. } => {
                PUBLISH_WEIGHT_PER_BYTE.saturating_mul(model.len() as u64)
            }
            CreditCall::RegisterScorer { .. }
            | CreditCall::RemoveScorer { .. }
            | CreditCall::RetireModel { .. } => REGISTRY_WEIGHT,
        }
    }

    fn genesis(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), crate::StateError> {
        genesis::write(ctx)
    }
}

fn admin_only(view: &dyn StateView, sender: &Address) -> Result<(), ExecError> {
    match state::admin(view)? {
        Some(a) if a == *sender => Ok(()),
        Some(a) => Err(fail(
            CREDIT_ADMIN_ONLY,
            format!("{sender} is not the credit administrator; sign with {a}"),
        )),
        None => Err(fail(
            CREDIT_ADMIN_ONLY,
            "this chain has no credit administrator (genesis credit.admin); its scorers are those of the genesis",
        )),
    }
}

fn execute(
    ov: &mut Overlay<'_>,
    sender: Address,
    now: u64,
    call: &CreditCall,
) -> Result<CreditEvent, ExecError> {
    match call {
        CreditCall::RegisterScorer { scorer } => {
            admin_only(ov, &sender)?;
            if state::is_scorer(ov, scorer)? {
                return Err(fail(
                    CREDIT_SCORER_REGISTERED,
                    format!("{scorer} is already a scorer"),
                ));
            }
            let n = state::scorers(ov)?.len();
            if n >= SCORERS_MAX {
                return Err(fail(
                    CREDIT_SCORERS_FULL,
                    format!("{n} scorers are registered, the most there may be; remove one first"),
                ));
            }
            state::add_scorer(ov, scorer);
            Ok(CreditEvent::ScorerRegistered { scorer: *scorer })
        }
        CreditCall::RemoveScorer { scorer } => {
            admin_only(ov, &sender)?;
            if !state::is_scorer(ov, scorer)? {
                return Err(fail(
                    CREDIT_SCORER_UNKNOWN,
                    format!("{scorer} is not a scorer; list them with GET /v1/credit/scorers"),
                ));
            }
            state::remove_scorer(ov, scorer);
            Ok(CreditEvent::ScorerRemoved { scorer: *scorer })
        }
        CreditCall::PublishModel { name, model } => {
            if !state::is_scorer(ov, &sender)? {
                return Err(fail(
                    CREDIT_SCORER_UNKNOWN,
                    format!("{sender} is not a registered scorer; the credit administrator registers scorers"),
                ));
            }
            let m = publish(ov, sender, name, model, now)?;
            Ok(CreditEvent::ModelPublished {
                model: m.id,
                scorer: m.scorer,
                name: m.name,
                version: m.version,
            })
        }
        CreditCall::RetireModel { model } => {
            let Some(mut m) = state::model(ov, model)? else {
                return Err(fail(
                    CREDIT_MODEL_UNKNOWN,
                    format!("tx.call.model {} names no model", model.to_hex()),
                ));
            };
            // Its scorer, or the administrator (a removed or rogue scorer's models).
            if m.scorer != sender && state::admin(ov)? != Some(sender) {
                return Err(fail(
                    CREDIT_MODEL_NOT_SCORERS,
                    format!(
                        "model {} is {}'s; only its scorer or the credit administrator retires it",
                        model.to_hex(),
                        m.scorer
                    ),
                ));
            }
            if m.retired_ms.is_some() {
                return Err(fail(
                    CREDIT_MODEL_RETIRED,
                    format!("model {} is already retired", model.to_hex()),
                ));
            }
            m.retired_ms = Some(now);
            state::put_model(ov, &m);
            Ok(CreditEvent::ModelRetired { model: *model })
        }
    }
}

/// Checks `json` as a model named `name` and stores it as `scorer`'s next version of `name`
/// (the call and the genesis).
pub(crate) fn publish(
    ov: &mut Overlay<'_>,
    scorer: Address,
    name: &str,
    json: &str,
    now: u64,
) -> Result<StoredModel, ExecError> {
    if !model_name_ok(name) {
        return Err(fail(
            CREDIT_MODEL_INVALID,
            format!("tx.call.name {name:?} is not a model name: 1 to {MODEL_NAME_BYTES_MAX} ASCII letters, digits, '-', '_' or '.'"),
        ));
    }
    if json.len() > MODEL_JSON_BYTES_MAX {
        return Err(fail(
            CREDIT_MODEL_INVALID,
            format!(
                "tx.call.model is {} bytes; a model document is at most {MODEL_JSON_BYTES_MAX}",
                json.len()
            ),
        ));
    }
    let parsed = want_scorecard::Model::from_json(json).map_err(|e| {
        fail(
            CREDIT_MODEL_INVALID,
            format!("tx.call.model is not a valid want-scorecard model: {e}"),
        )
    })?;
    if !parsed.active {
        return Err(fail(
            CREDIT_MODEL_INVALID,
            "tx.call.model has \"active\": false; publish an active model (retire it on chain with retire_model)",
        ));
    }
    let canonical = serde_json::to_string(&parsed)
        .map_err(|e| fail(CREDIT_MODEL_INVALID, format!("tx.call.model does not re-encode: {e}")))?;
    // Re-encoding may lengthen numbers (decimals are written with six places): the stored form
    // obeys the same bound as the call's.
    if canonical.len() > MODEL_JSON_BYTES_MAX {
        return Err(fail(
            CREDIT_MODEL_INVALID,
            format!(
                "tx.call.model re-encodes to {} bytes; a stored model is at most {MODEL_JSON_BYTES_MAX}",
                canonical.len()
            ),
        ));
    }
    let id = model_id(&scorer, &canonical);
    if state::model(ov, &id)?.is_some() {
        return Err(fail(
            CREDIT_MODEL_EXISTS,
            format!("{scorer} already published this model as {}", id.to_hex()),
        ));
    }
    let version = state::latest_version(ov, &scorer, name)?
        .checked_add(1)
        .ok_or_else(|| overflow("the model version"))?;
    let m = StoredModel {
        id,
        scorer,
        name: name.to_string(),
        version,
        published_ms: now,
        retired_ms: None,
        json: canonical,
    };
    state::put_model(ov, &m);
    state::set_latest_version(ov, &scorer, name, version);
    Ok(m)
}
