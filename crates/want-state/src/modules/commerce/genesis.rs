//! The commerce module's genesis section (`"commerce"` in a genesis file): the commerce
//! administrator, who registers and removes price reporters, and the reporters registered from
//! the start (see [`super::price`]).

use serde::{Deserialize, Serialize};
use want_types::modules::commerce::price::PRICE_REPORTERS_MAX;
use want_types::Address;

use super::price;
use crate::kernel::module::GenesisCtx;
use crate::StateError;

/// The `"commerce"` section of a genesis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommerceGenesis {
    /// The account that registers and removes price reporters.
    #[serde(default)]
    pub admin: Option<Address>,
    /// Price reporters registered from the start (at most 64, each once).
    #[serde(default)]
    pub price_reporters: Vec<Address>,
}

fn invalid(reason: String) -> StateError {
    StateError::Genesis {
        section: "commerce".into(),
        reason,
    }
}

/// Parses and checks the section (absent: empty).
pub fn parse(section: Option<&serde_json::Value>) -> Result<CommerceGenesis, StateError> {
    let g: CommerceGenesis = match section {
        None => return Ok(CommerceGenesis::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string()))?,
    };
    if g.price_reporters.len() > PRICE_REPORTERS_MAX {
        return Err(invalid(format!(
            "price_reporters has {} entries; at most {PRICE_REPORTERS_MAX} are allowed",
            g.price_reporters.len()
        )));
    }
    for (i, r) in g.price_reporters.iter().enumerate() {
        if g.price_reporters[..i].contains(r) {
            return Err(invalid(format!("price_reporters[{i}] {r} is listed twice")));
        }
    }
    Ok(g)
}

/// Writes the administrator and the reporters.
pub(crate) fn write(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
    let g = parse(ctx.section)?;
    if let Some(admin) = &g.admin {
        price::set_admin(ctx.state, admin);
    }
    for r in &g.price_reporters {
        price::add_reporter(ctx.state, r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_section_is_optional_and_strict() {
        assert_eq!(parse(None).unwrap(), CommerceGenesis::default());
        assert!(parse(Some(&json!({"admin": null, "bogus": 1}))).is_err());
        let a = Address::from_account_id([1; 20]);
        let twice = json!({"price_reporters": [a, a]});
        assert!(parse(Some(&twice)).unwrap_err().to_string().contains("twice"));
        let many: Vec<Address> = (0..=PRICE_REPORTERS_MAX)
            .map(|i| Address::from_account_id([i as u8; 20]))
            .collect();
        assert!(parse(Some(&json!({ "price_reporters": many }))).is_err());
        let ok = parse(Some(&json!({"admin": a, "price_reporters": [a]}))).unwrap();
        assert_eq!(ok.admin, Some(a));
    }
}
