//! The OpenAPI document (`GET /openapi.json`): generated from the handlers' `#[utoipa::path]`
//! annotations and from the types they parse and answer (`ToSchema`), then completed here with
//! what holds for every route, so no handler can forget it:
//!
//! - the `Error` schema, `{"error": {"code", "message", "path"?, "reason"?}}`, whose `code` is
//!   the enum of every registered code ([`crate::error::registry`], read when the document is
//!   built), is the body of every 4xx/5xx answer that has no other content type;
//! - every operation lists the errors any route can answer: `invalid_query` (when it has query
//!   parameters), `invalid_path` (path parameters), `tx_too_large` (request bodies),
//!   `internal_error` and `shutting_down`/`state_diverged`;
//! - every integer carries the bounds of its Rust type (`format` uint8…uint64, int32, int64).
//!
//! The test `crates/want-cli/tests/it/openapi_fuzz.rs` validates the document
//! (openapi-spec-validator) and fuzzes a live node against it (schemathesis).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::error::registry;

/// The body of every error answer: `{"error": {"code", "message", "path"?, "reason"?}}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// One error: its registered code, a message for people, and where it applies.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The stable machine-readable code.
    #[schema(value_type = RegisteredCode)]
    pub code: &'static str,
    /// What went wrong, for people; never matched on.
    pub message: String,
    /// The JSON path of the first problem of a refused document (EPCIS capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why a member's message was refused (`envelope_refused` only: `malformed`,
    /// `wrong_chain`, `misaddressed`, `unknown_sender`, `bad_signature`, `stale`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The schema of an error code: the enum of every code in the registry, built when the
/// document is.
pub struct RegisteredCode;

impl PartialSchema for RegisteredCode {
    fn schema() -> RefOr<Schema> {
        let mut codes = registry();
        codes.sort_by(|a, b| a.1.code.cmp(b.1.code));
        let table: Vec<String> = codes
            .iter()
            .map(|(owner, c)| format!("- `{}` ({}, {owner}): {}", c.code, c.status, c.doc))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().map(|(_, c)| c.code)))
            .description(Some(format!(
                "A registered error code, with the HTTP status it is answered with and who defines it:\n{}",
                table.join("\n")
            )))
            .into()
    }
}

impl ToSchema for RegisteredCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document served at `/openapi.json`: the generated one, completed (see the module's
/// documentation).
pub fn complete(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc =
        serde_json::to_value(doc).expect("invariant: an OpenAPI document serialises to JSON");
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    <ErrorBody as ToSchema>::schemas(&mut schemas);
    if let Some(components) = object(&mut doc, "components") {
        if let Some(all) = object_in(components, "schemas") {
            for (name, schema) in schemas {
                all.insert(
                    name,
                    serde_json::to_value(schema).expect("invariant: a schema serialises to JSON"),
                );
            }
        }
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for item in paths.values_mut() {
            let Value::Object(item) = item else { continue };
            for method in METHODS {
                if let Some(Value::Object(op)) = item.get_mut(method) {
                    complete_operation(op, method == "get");
                }
            }
        }
    }
    bound_integers(&mut doc);
    doc
}

/// `v[key]` as an object, made one if it is missing.
fn object<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    match v {
        Value::Object(m) => object_in(m, key),
        _ => None,
    }
}

fn object_in<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    m.entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// Adds the errors every route of its kind can answer, and the `Error` schema as the content of
/// every error answer without one; gives every string path parameter a minimum length of 1 (an
/// empty segment never reaches the route). Reads (`get`) may be answered `503 busy` by the read
/// pool.
fn complete_operation(op: &mut Map<String, Value>, read: bool) {
    let has_param = |op: &Map<String, Value>, place: &str| {
        op.get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
    };
    let (query, path, body) = (
        has_param(op, "query"),
        has_param(op, "path"),
        op.contains_key("requestBody"),
    );
    if let Some(Value::Array(params)) = op.get_mut("parameters") {
        for p in params.iter_mut().filter(|p| p["in"] == "path") {
            if let Some(Value::Object(schema)) = p.get_mut("schema") {
                if schema.get("type") == Some(&json!("string")) {
                    schema.entry("minLength").or_insert(json!(1));
                }
            }
        }
    }
    let Some(responses) = object_in(op, "responses") else {
        return;
    };
    if query {
        add_error(
            responses,
            "400",
            "invalid_query",
            "a query parameter is malformed, unknown or out of bounds",
        );
    }
    if path {
        add_error(
            responses,
            "400",
            "invalid_path",
            "a path parameter is not UTF-8 once percent-decoded",
        );
    }
    if body {
        add_error(
            responses,
            "413",
            "tx_too_large",
            "the request body is larger than the route takes",
        );
    }
    add_error(responses, "500", "internal_error", "see the node's log");
    add_error(responses, "503", "shutting_down", "the node is stopping");
    if read {
        add_error(
            responses,
            "503",
            "busy",
            "a read of stored data found every reader thread (http.reads_max) taken past its wait; retry in a moment",
        );
    }
    add_error(
        responses,
        "503",
        "state_diverged",
        "this node's state differs from its cluster's majority (routes that serve state)",
    );
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
    for (status, response) in responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if let (true, Value::Object(r)) = (is_error, response) {
            r.entry("content").or_insert_with(|| error.clone());
        }
    }
}

/// Documents error `code` under `status`, beside what is already there (unless the status
/// answers another content type than JSON: a route's HTML pages).
fn add_error(responses: &mut Map<String, Value>, status: &str, code: &str, meaning: &str) {
    match responses.get_mut(status) {
        Some(Value::Object(r)) => {
            let json_or_none = match r.get("content") {
                Some(Value::Object(c)) => c.contains_key("application/json"),
                _ => true,
            };
            let described = r
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if json_or_none && !described.contains(code) {
                let joined = if described.is_empty() {
                    format!("{code}: {meaning}")
                } else {
                    format!("{described}; {code}: {meaning}")
                };
                r.insert("description".into(), Value::String(joined));
            }
        }
        _ => {
            responses.insert(
                status.into(),
                json!({"description": format!("{code}: {meaning}")}),
            );
        }
    }
}

/// Gives every integer schema with a sized `format` the bounds of that type, unless it has
/// tighter ones, and the format its common name (`uint64`, not utoipa's `u-int64`): negative
/// data beyond the bounds is data the document forbids, and the node's parsers refuse it.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let is_integer = match m.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            let format = m
                .get("format")
                .and_then(Value::as_str)
                .map(|f| f.replace('-', ""));
            let bounds: Option<(Value, Value)> = match format.as_deref() {
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let (true, Some((min, max)), Some(f)) = (is_integer, bounds, format) {
                m.insert("format".into(), Value::String(f));
                m.entry("minimum").or_insert(min);
                m.entry("maximum").or_insert(max);
            }
            for child in m.values_mut() {
                bound_integers(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The schema of a binary body (borsh, sealed blobs): a string of bytes.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .description(Some("Bytes (application/octet-stream)."))
            .into()
    }
}

impl ToSchema for Binary {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// An array of `T` of at most `max` items, with its description.
fn bounded_array<T: ToSchema>(max: usize, description: &str) -> RefOr<Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(RefOr::Ref(
            utoipa::openapi::Ref::from_schema_name(T::name()),
        ))
        .max_items(Some(max))
        .description(Some(description))
        .into()
}

/// The body of `POST /v1/transactions/batch`: at most
/// [`crate::config::SUBMIT_BATCH_MAX`] signed transactions.
pub struct TxBatch;

impl PartialSchema for TxBatch {
    fn schema() -> RefOr<Schema> {
        bounded_array::<want_types::SignedTransaction>(
            crate::config::SUBMIT_BATCH_MAX,
            "Signed transactions, answered one by one in this order.",
        )
    }
}

impl ToSchema for TxBatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use want_types::SignedTransaction as T;
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

/// The body of `POST /v1/cluster/votes`: at most [`crate::kernel::certs::VOTES_POST_MAX`]
/// signed commit votes.
pub struct VoteBatch;

impl PartialSchema for VoteBatch {
    fn schema() -> RefOr<Schema> {
        bounded_array::<want_types::SignedVote>(
            crate::kernel::certs::VOTES_POST_MAX,
            "Members' signed commit votes; one invalid vote refuses them all.",
        )
    }
}

impl ToSchema for VoteBatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use want_types::SignedVote as T;
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}
