//! The example module's node part (feature `example-module`, for the test suite): its notes,
//! one by author and a page of all, and a counter of notes posted that observes committed
//! blocks (`want_example_notes_posted_total`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::example::query;
use want_types::modules::example::ExampleEvent;
use want_state::modules::example::Note;
use want_types::{Address, Event, ModuleId};

use crate::api::{bad, parse_address, read, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::module::{BuildCtx, BuildModule};
use crate::kernel::node::NodeModule;
use crate::kernel::node::Node;

/// The example module's node part.
pub struct ExampleNode {
    notes_posted: Counter,
}

impl BuildModule for ExampleNode {
    fn build(_ctx: &BuildCtx<'_>) -> Result<ExampleNode, NodeError> {
        Ok(ExampleNode {
            notes_posted: Counter::default(),
        })
    }
}

impl NodeModule for ExampleNode {
    fn id(&self) -> ModuleId {
        ModuleId::Example
    }

    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "notes_posted",
            "Notes posted in committed blocks",
            self.notes_posted.clone(),
        );
    }

    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter {
        OpenApiRouter::new()
            .routes(routes!(get_note))
            .routes(routes!(list_notes))
            .with_state(node.clone())
    }

    /// A commit observer: counts the notes of every committed block.
    fn start(self: Arc<Self>, node: &Node, mut shutdown: watch::Receiver<bool>) {
        let mut commits = node.subscribe_commits();
        let store = node.shared.store.clone();
        tokio::spawn(async move {
            loop {
                let height = tokio::select! {
                    _ = shutdown.changed() => return,
                    h = commits.recv() => match h {
                        Ok(h) => h,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                };
                let Ok(Some(receipts)) = store.receipts(height) else {
                    continue;
                };
                let posted = receipts
                    .iter()
                    .flat_map(|r| &r.events)
                    .filter(|e| matches!(e, Event::Example(ExampleEvent::NotePosted { .. })))
                    .count();
                self.notes_posted.inc_by(posted as u64);
            }
        });
    }
}

/// A note with its author.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthoredNote {
    pub author: Address,
    pub note: Note,
}

#[utoipa::path(get, path = "/v1/example/notes/{address}", tag = "example",
    params(("address" = Address, Path, description = "the author's address")),
    responses((status = 200, description = "the author's note", body = AuthoredNote), (status = 400, description = "invalid_address"), (status = 404, description = "not_found"), (status = 503, description = "state_diverged")))]
async fn get_note(State(node): State<Node>, Path(address): Path<String>) -> ApiResult {
    let author = parse_address(&address)?;
    let store = node.shared.store.clone();
    let note = read(&node, move || Ok(query::note(&store.snapshot()?, &author)?)).await?;
    match note {
        Some(note) => Ok(Json(AuthoredNote { author, note }).into_response()),
        None => Err(crate::api::ApiError(NodeError::NotFound {
            code: codes::NOT_FOUND,
            message: format!("{author} has no note"),
        })),
    }
}

/// A page of notes.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct NotesPage {
    /// The author to continue after (the previous page's `next`).
    #[param(value_type = Option<Address>)]
    cursor: Option<String>,
    /// Most notes (1 to 100, default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of notes, by author, and the cursor of the next page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotesPageView {
    pub notes: Vec<AuthoredNote>,
    /// The `cursor` of the next page; null on the last one.
    pub next: Option<Address>,
}

#[utoipa::path(get, path = "/v1/example/notes", tag = "example", params(NotesPage),
    responses((status = 200, description = "a page of notes", body = NotesPageView), (status = 400, description = "invalid_query, invalid_address"), (status = 503, description = "state_diverged")))]
async fn list_notes(State(node): State<Node>, Query(q): Query<NotesPage>) -> ApiResult {
    let after = q.cursor.as_deref().map(parse_address).transpose()?;
    let limit = q.limit.unwrap_or(query::NOTES_PAGE_MAX);
    if limit == 0 || limit > query::NOTES_PAGE_MAX {
        return Err(bad(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {}, found {limit}", query::NOTES_PAGE_MAX),
        ));
    }
    let store = node.shared.store.clone();
    let page =
        read(&node, move || Ok(query::notes(&store.snapshot()?, after.as_ref(), limit)?)).await?;
    let notes = page
        .items
        .into_iter()
        .map(|(author, note)| AuthoredNote { author, note })
        .collect();
    Ok(Json(NotesPageView {
        notes,
        next: page.next,
    })
    .into_response())
}
