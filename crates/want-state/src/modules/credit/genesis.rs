//! The credit module's genesis section (`"credit"` in a genesis file): the credit
//! administrator, the scorers registered from the start, and models published at genesis
//! (the dev chain's default model).

use serde::{Deserialize, Serialize};
use want_types::modules::credit::SCORERS_MAX;
use want_types::Address;

use super::state;
use crate::failure::ExecError;
use crate::kernel::module::GenesisCtx;
use crate::StateError;

/// A model published at genesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisModel {
    /// Its scorer (one of `scorers`).
    pub scorer: Address,
    pub name: String,
    /// The `want-scorecard/1` document itself (a JSON object).
    pub model: serde_json::Value,
}

/// The `"credit"` section of a genesis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditGenesis {
    /// The account that registers and removes scorers.
    #[serde(default)]
    pub admin: Option<Address>,
    /// Scorers registered from the start (at most 64, each once).
    #[serde(default)]
    pub scorers: Vec<Address>,
    /// Models published at genesis, in order.
    #[serde(default)]
    pub models: Vec<GenesisModel>,
}

fn invalid(reason: String) -> StateError {
    StateError::Genesis {
        section: "credit".into(),
        reason,
    }
}

/// Parses and checks the section (absent: empty).
pub fn parse(section: Option<&serde_json::Value>) -> Result<CreditGenesis, StateError> {
    let g: CreditGenesis = match section {
        None => return Ok(CreditGenesis::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string()))?,
    };
    if g.scorers.len() > SCORERS_MAX {
        return Err(invalid(format!(
            "scorers has {} entries; at most {SCORERS_MAX} are allowed",
            g.scorers.len()
        )));
    }
    for (i, s) in g.scorers.iter().enumerate() {
        if g.scorers[..i].contains(s) {
            return Err(invalid(format!("scorers[{i}] {s} is listed twice")));
        }
    }
    for (i, m) in g.models.iter().enumerate() {
        if !g.scorers.contains(&m.scorer) {
            return Err(invalid(format!(
                "models[{i}].scorer {} is not one of the scorers",
                m.scorer
            )));
        }
    }
    Ok(g)
}

/// Writes the administrator, the scorers and the models.
pub(crate) fn write(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
    let g = parse(ctx.section)?;
    if let Some(admin) = &g.admin {
        state::set_admin(ctx.state, admin);
    }
    for s in &g.scorers {
        state::add_scorer(ctx.state, s);
    }
    for (i, m) in g.models.iter().enumerate() {
        let json = m.model.to_string();
        super::publish(ctx.state, m.scorer, &m.name, &json, 0).map_err(|e| match e {
            ExecError::Tx(f) => invalid(format!("models[{i}]: {}", f.message)),
            ExecError::State(e) => e,
        })?;
    }
    Ok(())
}
