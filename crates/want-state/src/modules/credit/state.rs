//! The credit module's state: every key under `credit/`, every value borsh.
//!
//! | key | value |
//! |---|---|
//! | `credit/admin` | the credit administrator ([`Address`]; genesis `credit.admin`) |
//! | `credit/scorer/ ‖ address (21 bytes)` | empty: a registered scorer |
//! | `credit/model/ ‖ id (32 bytes)` | [`StoredModel`] |
//! | `credit/model-name/ ‖ scorer (21 bytes) ‖ name` | latest version of the scorer's models of that name (u32 BE) |

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::modules::credit::SCORERS_MAX;
use want_types::{Address, Hash32};

use crate::store::{page, read_borsh as read, write_borsh as write, Overlay, Page};
use crate::{StateError, StateView};

/// Key of the credit administrator.
pub const ADMIN_KEY: &[u8] = b"credit/admin";
/// Prefix of the registered scorers.
pub const SCORER_PREFIX: &[u8] = b"credit/scorer/";
/// Prefix of the published models.
pub const MODEL_PREFIX: &[u8] = b"credit/model/";
/// Prefix of the latest version of each (scorer, name).
pub const MODEL_NAME_PREFIX: &[u8] = b"credit/model-name/";
/// Most models one page lists (their summaries; a document is read one model at a time).
pub const MODELS_PAGE_MAX: usize = 100;

/// A published model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct StoredModel {
    pub id: Hash32,
    /// The scorer who published it.
    pub scorer: Address,
    pub name: String,
    /// 1 for the first model of this scorer and name, then one more each time.
    pub version: u32,
    /// Block time of its publication, Unix ms.
    pub published_ms: u64,
    /// Block time of its retirement, if retired: nobody scores with it since.
    pub retired_ms: Option<u64>,
    /// The `want-scorecard/1` document in its canonical form: the model re-encoded compactly
    /// (`serde_json::to_string` of `want_scorecard::Model`).
    pub json: String,
}


pub fn scorer_key(who: &Address) -> Vec<u8> {
    [SCORER_PREFIX, &who.0].concat()
}

pub fn model_key(id: &Hash32) -> Vec<u8> {
    [MODEL_PREFIX, &id.0].concat()
}

pub fn model_name_key(scorer: &Address, name: &str) -> Vec<u8> {
    [MODEL_NAME_PREFIX, &scorer.0, name.as_bytes()].concat()
}

/// The credit administrator, if the genesis named one.
pub fn admin(view: &dyn StateView) -> Result<Option<Address>, StateError> {
    read(view, ADMIN_KEY, "credit administrator")
}

pub(crate) fn set_admin(ov: &mut Overlay<'_>, admin: &Address) {
    write(ov, ADMIN_KEY.to_vec(), admin);
}

/// Whether `who` is a registered scorer.
pub fn is_scorer(view: &dyn StateView, who: &Address) -> Result<bool, StateError> {
    Ok(view.get(&scorer_key(who))?.is_some())
}

/// The registered scorers, in address order (at most [`SCORERS_MAX`]).
pub fn scorers(view: &dyn StateView) -> Result<Vec<Address>, StateError> {
    crate::store::addresses_under(view, SCORER_PREFIX, SCORERS_MAX + 1)
}

pub(crate) fn add_scorer(ov: &mut Overlay<'_>, who: &Address) {
    ov.put(scorer_key(who), Vec::new());
}

pub(crate) fn remove_scorer(ov: &mut Overlay<'_>, who: &Address) {
    ov.delete(scorer_key(who));
}

/// The model `id`, if published.
pub fn model(view: &dyn StateView, id: &Hash32) -> Result<Option<StoredModel>, StateError> {
    read(view, &model_key(id), "credit model")
}

pub(crate) fn put_model(ov: &mut Overlay<'_>, m: &StoredModel) {
    write(ov, model_key(&m.id), m);
}

/// The latest version of `scorer`'s models named `name` (0: none yet).
pub fn latest_version(
    view: &dyn StateView,
    scorer: &Address,
    name: &str,
) -> Result<u32, StateError> {
    Ok(read::<u32>(view, &model_name_key(scorer, name), "model version")?.unwrap_or(0))
}

pub(crate) fn set_latest_version(ov: &mut Overlay<'_>, scorer: &Address, name: &str, v: u32) {
    write(ov, model_name_key(scorer, name), &v);
}

/// A page of the published models in id order, after `after`, at most `limit`
/// ([`MODELS_PAGE_MAX`]).
pub fn models(
    view: &dyn StateView,
    after: Option<Hash32>,
    limit: usize,
) -> Result<Page<StoredModel, Hash32>, StateError> {
    page(
        view,
        MODEL_PREFIX,
        after.as_ref().map(|a| &a.0[..]),
        limit.clamp(1, MODELS_PAGE_MAX),
        |k, v| borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("credit model: {e}"))),
        |m: &StoredModel| m.id,
    )
}
