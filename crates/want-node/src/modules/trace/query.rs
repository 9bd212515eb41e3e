//! The trace module's reads as the API serves them: records and event pages, lineage. State is
//! read through `want_state::trace::query` over one snapshot, never by key. Each answer is a
//! typed view whose schema is the OpenAPI document's.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use serde::Serialize;
use utoipa::ToSchema;
use want_state::trace::query::{self, EventFilter, RecordInfo};
use want_state::StateView;
use want_types::trace::{event_hash_id, ProductLink, Relation};
use want_types::{Address, Hash32};

use crate::error::{codes, NodeError};

/// Deepest lineage walk, in hops.
pub const LINEAGE_DEPTH_MAX: u32 = 16;
/// Most products a lineage answer lists in each direction (upstream, downstream).
pub const LINEAGE_NODES_MAX: usize = 10_000;
/// Most links one direction of a lineage walk examines (each checked against the other
/// product's endorsements with one read, and listed in `edges` at most once).
pub const LINEAGE_EDGES_MAX: usize = 20_000;
/// Most records one direction of a lineage walk reads (entries of its products' record lists).
pub const LINEAGE_RECORDS_MAX: usize = 10_000;
/// Most product entries one direction of a lineage walk decodes, summed over the records it
/// reads (each record is read once per answer).
pub const LINEAGE_PRODUCTS_READ_MAX: usize = 200_000;

/// The public view of an anchored record.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// The GS1 event hash ID, `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    pub event_hash: String,
    /// The record's id on chain: its event hash for a record anchored before the
    /// `trace_record_ids` rule, else `record_id(org, event hash)` (several organisations may
    /// each hold a record of one event hash).
    pub record_id: Hash32,
    /// The owning organisation.
    pub org: String,
    /// The department key that signed the anchoring transaction.
    pub signer: Address,
    /// `H(M, Sig)` of the sealed record.
    pub record_hash: Hash32,
    /// CIDv1 of the sealed record in the blob store.
    pub cid: String,
    pub event_type: String,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// Unix ms, when published.
    pub event_time_ms: Option<i64>,
    /// When published.
    pub location: Option<String>,
    pub products: Vec<ProductLink>,
    /// Height of the anchoring block.
    pub height: u64,
    /// The anchoring transaction.
    pub tx: Hash32,
    /// Position of the record in its transaction.
    pub index: u32,
    /// Position in the chain's anchoring order.
    pub seq: u64,
}

/// The public view of an anchored record.
pub fn record_view(record_id: &Hash32, r: &RecordInfo) -> RecordView {
    RecordView {
        event_hash: event_hash_id(&r.event_hash),
        record_id: *record_id,
        org: r.org.clone(),
        signer: r.signer,
        record_hash: r.record_hash,
        cid: r.cid.clone(),
        event_type: r.public.event_type.clone(),
        biz_step: r.public.biz_step.clone(),
        disposition: r.public.disposition.clone(),
        event_time_ms: r.public.event_time_ms,
        location: r.public.location.clone(),
        products: r.public.products.clone(),
        height: r.height,
        tx: r.tx_id,
        index: r.index,
        seq: r.seq,
    }
}

/// The query string of `GET /v1/trace/events`: filters (all optional; combined with AND), page
/// size and cursor.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventQuery {
    /// A product the record names (EPC URN or GS1 Digital Link).
    pub product: Option<String>,
    /// Business step: a CBV term in any form (`shipping`, `urn:epcglobal:cbv:bizstep:shipping`,
    /// `https://ref.gs1.org/cbv/BizStep-shipping`) or a custom absolute URI; an unknown bare
    /// name is refused (`invalid_query`).
    pub biz_step: Option<String>,
    /// Disposition: a CBV term in any form (`in_transit`, `urn:epcglobal:cbv:disp:in_transit`,
    /// `https://ref.gs1.org/cbv/Disp-in_transit`) or a custom absolute URI.
    pub disposition: Option<String>,
    /// The place (business location, else read point): an EPC URN (`urn:epc:id:sgln:…`), a GS1
    /// Digital Link or another absolute URI.
    pub location: Option<String>,
    /// The owning organisation.
    pub org: Option<String>,
    /// Event time at or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Event time before, Unix ms.
    pub to_ms: Option<i64>,
    /// Most records (1 to 1,000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<u64>,
}

/// A page of records and the cursor of the next one.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<RecordView>,
    /// The `cursor` of the next page; null on the last one.
    pub next: Option<u64>,
    /// The page holds fewer records than `limit` because their products reached the most one
    /// answer carries (10,000, summed over its records); continue from `next`.
    pub truncated: bool,
}

/// One page of records matching `q` (see `want_state::trace::query::events`).
pub fn events(view: &dyn StateView, q: &EventQuery) -> Result<EventsPage, NodeError> {
    let limit = q.limit.unwrap_or(query::EVENTS_PAGE_DEFAULT);
    if limit == 0 || limit > query::EVENTS_PAGE_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {}, found {limit}", query::EVENTS_PAGE_MAX),
        ));
    }
    let filter = EventFilter {
        product: q.product.clone(),
        biz_step: q.biz_step.clone(),
        disposition: q.disposition.clone(),
        location: q.location.clone(),
        org: q.org.clone(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
    };
    let page = query::events(view, &filter, q.cursor, limit)?;
    let events = page
        .items
        .iter()
        .map(|(id, r)| record_view(id, r))
        .collect();
    Ok(EventsPage {
        events,
        next: page.next,
        truncated: page.truncated,
    })
}

/// How a record links two products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Container → content.
    Aggregation,
    /// Input → output.
    Transformation,
}

/// One edge of a product's lineage.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
    pub kind: LinkKind,
    /// The event hash ID of the record that draws the edge.
    pub event: String,
}

/// A product reached by a lineage walk.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineageNode {
    pub id: String,
    /// Hops from the product asked about.
    pub depth: u32,
    /// The kind of the edge it was reached by.
    pub via: LinkKind,
    /// The event hash ID of that edge's record.
    pub event: String,
}

/// A product's lineage.
#[derive(Serialize, ToSchema)]
pub struct LineageView {
    pub product: String,
    pub depth: u32,
    /// Containers it was packed in, ingredients it was made from, and theirs.
    pub upstream: Vec<LineageNode>,
    /// Its contents, what it was made into, and theirs.
    pub downstream: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
    /// The walk stopped at the most products an answer lists.
    pub truncated: bool,
}

/// A record's products by the side of its links, read once per walk.
struct RecordSides {
    /// Its anchoring position (endorsements are recorded by it).
    seq: u64,
    /// Its event hash ID.
    event: String,
    /// Containers (parent).
    parents: Vec<String>,
    /// Contents (child, EPC and quantity lists), in the record's order.
    children: Vec<String>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// The sides each product is on.
    roles: HashMap<String, Roles>,
}

/// The sides of a record a product is on.
#[derive(Clone, Copy, Default)]
struct Roles {
    parent: bool,
    child: bool,
    input: bool,
    output: bool,
}

impl RecordSides {
    fn of(r: RecordInfo) -> RecordSides {
        let mut sides = RecordSides {
            seq: r.seq,
            event: event_hash_id(&r.event_hash),
            parents: Vec::new(),
            children: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            roles: HashMap::new(),
        };
        for p in r.public.products {
            let role = sides.roles.entry(p.id.clone()).or_default();
            match p.relation {
                Relation::Parent => {
                    role.parent = true;
                    sides.parents.push(p.id);
                }
                Relation::Child | Relation::Epc | Relation::Quantity => {
                    role.child = true;
                    sides.children.push(p.id);
                }
                Relation::Input => {
                    role.input = true;
                    sides.inputs.push(p.id);
                }
                Relation::Output => {
                    role.output = true;
                    sides.outputs.push(p.id);
                }
            }
        }
        sides
    }

    /// The products linked to `id` by this record in one direction, with the kind of link:
    /// upstream its containers and inputs, downstream its contents and outputs.
    fn linked(&self, id: &str, upstream: bool) -> [(LinkKind, &[String]); 2] {
        let role = self.roles.get(id).copied().unwrap_or_default();
        fn pick(on: bool, list: &[String]) -> &[String] {
            if on {
                list
            } else {
                &[]
            }
        }
        if upstream {
            [
                (LinkKind::Aggregation, pick(role.child, &self.parents)),
                (LinkKind::Transformation, pick(role.output, &self.inputs)),
            ]
        } else {
            [
                (LinkKind::Aggregation, pick(role.parent, &self.children)),
                (LinkKind::Transformation, pick(role.input, &self.outputs)),
            ]
        }
    }
}

/// What one direction of a lineage walk may still read (see the `LINEAGE_*_MAX` bounds).
struct Budget {
    records: usize,
    products: usize,
    edges: usize,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            records: LINEAGE_RECORDS_MAX,
            products: LINEAGE_PRODUCTS_READ_MAX,
            edges: LINEAGE_EDGES_MAX,
        }
    }
}

/// A lineage walk over one snapshot: each product's record list and each record are read at
/// most once (both directions share them), so the work is linear in what the walk reaches.
struct Walker<'a> {
    view: &'a dyn StateView,
    /// Each product's records (record ids, in anchoring order), as far as they were read.
    lists: HashMap<String, Vec<Hash32>>,
    records: HashMap<Hash32, Rc<RecordSides>>,
    edges: BTreeSet<LineageEdge>,
    truncated: bool,
}

impl Walker<'_> {
    /// The records naming `id`, at most what the budget still reads (`truncated` beyond).
    fn list(&mut self, id: &str, budget: &mut Budget) -> Result<Vec<Hash32>, NodeError> {
        if let Some(l) = self.lists.get(id) {
            return Ok(l.clone());
        }
        let mut list = Vec::new();
        if let Some(info) = query::product(self.view, id)? {
            let want = usize::try_from(info.count).unwrap_or(usize::MAX);
            let take = want.min(budget.records);
            list = query::product_events(self.view, id, &info, 0, take)?;
            budget.records -= list.len().min(budget.records);
            if list.len() < want {
                self.truncated = true;
            }
        }
        self.lists.insert(id.to_string(), list.clone());
        Ok(list)
    }

    /// A record's sides (`None` when the budget of products read is spent: `truncated`).
    fn record(
        &mut self,
        eh: &Hash32,
        budget: &mut Budget,
    ) -> Result<Option<Rc<RecordSides>>, NodeError> {
        if let Some(r) = self.records.get(eh) {
            return Ok(Some(r.clone()));
        }
        if budget.products == 0 {
            self.truncated = true;
            return Ok(None);
        }
        let Some(r) = query::record(self.view, eh)? else {
            return Ok(None);
        };
        budget.products = budget.products.saturating_sub(r.public.products.len());
        let sides = Rc::new(RecordSides::of(r));
        self.records.insert(*eh, sides.clone());
        Ok(Some(sides))
    }

    /// The products reached from `product` in one direction, breadth first to `depth` hops.
    fn walk(
        &mut self,
        product: &str,
        depth: u32,
        upstream: bool,
    ) -> Result<Vec<LineageNode>, NodeError> {
        let mut budget = Budget::new();
        let mut seen: HashSet<String> = HashSet::from([product.to_string()]);
        let mut queue = VecDeque::from([(product.to_string(), 0u32)]);
        let mut found = Vec::new();
        while let Some((id, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for eh in self.list(&id, &mut budget)? {
                let Some(r) = self.record(&eh, &mut budget)? else {
                    if self.truncated {
                        return Ok(found);
                    }
                    continue;
                };
                for (kind, others) in r.linked(&id, upstream) {
                    for other in others {
                        if budget.edges == 0 {
                            self.truncated = true;
                            return Ok(found);
                        }
                        budget.edges -= 1;
                        // A record kept apart from the other product's history (its
                        // organisation was not endorsed for it) links nothing to it: a
                        // counterfeit does not borrow a genuine product's past.
                        if query::is_unendorsed(self.view, other, r.seq)? {
                            continue;
                        }
                        let new = !seen.contains(other);
                        if new && found.len() >= LINEAGE_NODES_MAX {
                            self.truncated = true;
                            return Ok(found);
                        }
                        let (from, to) = if upstream { (other, &id) } else { (&id, other) };
                        self.edges.insert(LineageEdge {
                            from: from.clone(),
                            to: to.clone(),
                            kind,
                            event: r.event.clone(),
                        });
                        if !new {
                            continue;
                        }
                        seen.insert(other.clone());
                        found.push(LineageNode {
                            id: other.clone(),
                            depth: d + 1,
                            via: kind,
                            event: r.event.clone(),
                        });
                        queue.push_back((other.clone(), d + 1));
                    }
                }
            }
        }
        Ok(found)
    }
}

/// A product's lineage: products upstream (containers it was packed in, ingredients it was made
/// from) and downstream (its contents, what it was made into), breadth first to `depth` hops.
/// Each direction reads at most [`LINEAGE_RECORDS_MAX`] records and
/// [`LINEAGE_PRODUCTS_READ_MAX`] of their products, examines at most [`LINEAGE_EDGES_MAX`]
/// links and lists at most [`LINEAGE_NODES_MAX`] products; beyond any of these it stops with
/// `truncated`.
pub fn lineage(
    view: &dyn StateView,
    product: &str,
    depth: u32,
) -> Result<LineageView, NodeError> {
    if depth == 0 || depth > LINEAGE_DEPTH_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("depth must be 1 to {LINEAGE_DEPTH_MAX}, found {depth}"),
        ));
    }
    let mut w = Walker {
        view,
        lists: HashMap::new(),
        records: HashMap::new(),
        edges: BTreeSet::new(),
        truncated: false,
    };
    let upstream = w.walk(product, depth, true)?;
    let downstream = w.walk(product, depth, false)?;
    Ok(LineageView {
        product: product.to_string(),
        depth,
        upstream,
        downstream,
        edges: w.edges.into_iter().collect(),
        truncated: w.truncated,
    })
}

/// Brings a product identifier given by a user (EPC URN, GS1 Digital Link URI on any host, or
/// another URI) to the one form records are indexed under.
pub fn normalize_product(s: &str) -> Result<String, String> {
    want_epcis::normalize_identifier(s.trim()).map_err(|e| e.message)
}

/// Brings the filters of an events query to the forms capture stores them in (as
/// [`normalize_product`] does for products): the product and the location to their canonical
/// identifier (EPC URN and GS1 Digital Link alike), the business step and the disposition to
/// the bare CBV term (bare, URN and URI forms alike). A value that is neither a standard term
/// nor an absolute URI is refused with the name of its parameter: it could match nothing.
pub fn normalize_event_query(q: &mut EventQuery) -> Result<(), String> {
    fn apply(
        field: &mut Option<String>,
        name: &str,
        f: impl Fn(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        if let Some(v) = field.as_deref() {
            let normalised = f(v.trim()).map_err(|e| format!("{name}: {e}"))?;
            *field = Some(normalised);
        }
        Ok(())
    }
    apply(&mut q.product, "product", normalize_product)?;
    apply(&mut q.location, "location", normalize_product)?;
    apply(&mut q.biz_step, "bizStep", |s| {
        want_epcis::normalize_biz_step(s).map_err(|e| e.message)
    })?;
    apply(&mut q.disposition, "disposition", |s| {
        want_epcis::normalize_disposition(s).map_err(|e| e.message)
    })
}

