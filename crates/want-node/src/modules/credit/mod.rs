//! The credit module's node part: its scorers and the models they published, read over one
//! snapshot each (`/v1/credit/…`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::credit::state::{self, StoredModel, MODELS_PAGE_MAX};
use want_state::modules::credit::CREDIT_MODEL_UNKNOWN;
use want_types::{Address, Hash32, ModuleId};

use crate::api::kernel::parse_hash;
use crate::api::{bad, read, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::{Node, NodeModule};

/// The credit module's node part.
pub struct CreditNode;

impl BuildModule for CreditNode {
    fn build(_ctx: &BuildCtx<'_>) -> Result<CreditNode, NodeError> {
        Ok(CreditNode)
    }
}

impl NodeModule for CreditNode {
    fn id(&self) -> ModuleId {
        ModuleId::Credit
    }

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(list_scorers))
            .routes(routes!(list_models))
            .routes(routes!(get_model))
            .with_state(node.clone())
    }
}

/// The registered scorers and the credit administrator.
#[derive(Serialize, ToSchema)]
pub struct ScorersView {
    /// Registers and removes scorers; null when the genesis named none.
    pub admin: Option<Address>,
    /// In address order.
    pub scorers: Vec<Address>,
}

#[utoipa::path(get, path = "/v1/credit/scorers", tag = "credit",
    responses((status = 200, description = "the scorers and the administrator", body = ScorersView),
        (status = 503, description = "state_diverged, busy")))]
async fn list_scorers(State(node): State<Node>) -> ApiResult {
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let snap = store.snapshot()?;
        Ok(ScorersView {
            admin: state::admin(&snap)?,
            scorers: state::scorers(&snap)?,
        })
    })
    .await?;
    Ok(Json(view).into_response())
}

/// A published scorecard model, without its document.
#[derive(Serialize, ToSchema)]
pub struct ModelSummary {
    /// `sha256d("want/credit/model/v1" ‖ borsh((scorer, canonical document)))`.
    pub id: Hash32,
    pub scorer: Address,
    pub name: String,
    pub version: u32,
    /// Block time of its publication, Unix ms.
    pub published_ms: u64,
    /// Block time of its retirement (nobody scores with it since), or null.
    pub retired_ms: Option<u64>,
}

impl From<&StoredModel> for ModelSummary {
    fn from(m: &StoredModel) -> Self {
        ModelSummary {
            id: m.id,
            scorer: m.scorer,
            name: m.name.clone(),
            version: m.version,
            published_ms: m.published_ms,
            retired_ms: m.retired_ms,
        }
    }
}

/// A published scorecard model with its document.
#[derive(Serialize, ToSchema)]
pub struct ModelView {
    #[serde(flatten)]
    pub summary: ModelSummary,
    /// The `want-scorecard/1` document exactly as stored: its canonical bytes, from which `id`
    /// is computed (`want credit model show --out` writes it for `want credit score`).
    #[schema(value_type = Object)]
    pub model: Box<serde_json::value::RawValue>,
}

impl TryFrom<StoredModel> for ModelView {
    type Error = NodeError;

    fn try_from(m: StoredModel) -> Result<Self, NodeError> {
        let summary = ModelSummary::from(&m);
        let model = serde_json::value::RawValue::from_string(m.json).map_err(|e| {
            NodeError::Io(format!(
                "credit model {}: its stored document is not JSON ({e}); the stored state is inconsistent",
                summary.id.to_hex()
            ))
        })?;
        Ok(ModelView { summary, model })
    }
}

/// A page of models.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ModelsQuery {
    /// The id to continue after (the previous page's `next`).
    #[param(value_type = Option<Hash32>)]
    after: Option<String>,
    /// Most models (1 to 100, default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of models by id (their summaries: `/v1/credit/models/{id}` has the document), and the
/// cursor of the next page.
#[derive(Serialize, ToSchema)]
pub struct ModelsPage {
    pub models: Vec<ModelSummary>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<Hash32>,
}

#[utoipa::path(get, path = "/v1/credit/models", tag = "credit", params(ModelsQuery),
    responses((status = 200, description = "a page of models by id", body = ModelsPage),
        (status = 400, description = "invalid_query, invalid_hash"), (status = 503, description = "state_diverged, busy")))]
async fn list_models(State(node): State<Node>, Query(q): Query<ModelsQuery>) -> ApiResult {
    let after = q.after.as_deref().map(parse_hash).transpose()?;
    let limit = q.limit.unwrap_or(MODELS_PAGE_MAX);
    if limit == 0 || limit > MODELS_PAGE_MAX {
        return Err(bad(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {MODELS_PAGE_MAX}, found {limit}"),
        ));
    }
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        let page = state::models(&store.snapshot()?, after, limit)?;
        Ok(ModelsPage {
            models: page.items.iter().map(ModelSummary::from).collect(),
            next: page.next,
        })
    })
    .await?;
    Ok(Json(page).into_response())
}

#[utoipa::path(get, path = "/v1/credit/models/{id}", tag = "credit",
    params(("id" = Hash32, Path, description = "model id, 64 hex digits")),
    responses((status = 200, description = "the model", body = ModelView),
        (status = 400, description = "invalid_hash"), (status = 404, description = "credit_model_unknown"),
        (status = 503, description = "state_diverged, busy")))]
async fn get_model(State(node): State<Node>, Path(id): Path<String>) -> ApiResult {
    let id = parse_hash(&id)?;
    let store = node.shared.store.clone();
    let model = read(&node, move || {
        let m = state::model(&store.snapshot()?, &id)?.ok_or_else(|| NodeError::NotFound {
            code: CREDIT_MODEL_UNKNOWN,
            message: format!("no model has the id {}; list them with /v1/credit/models", id.to_hex()),
        })?;
        ModelView::try_from(m)
    })
    .await?;
    // Straight to bytes (not through a `Value`, which would sort the document's keys): the
    // document goes out as stored.
    Ok(axum::Json(model).into_response())
}
