//! Validation and normalisation of one EPCIS 2.0 event object.

use crate::ids::{is_absolute_uri, normalise_identifier};
use crate::time::{parse_offset, parse_rfc3339};
use crate::vocab::{self, Vocab};
use crate::{EpcisError, ErrorDeclaration, EventType, ProductRef, Relation, EVENT_EPCS_MAX};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Prefixes defined by the standard EPCIS 2.0 JSON-LD context (usable without declaration).
const STANDARD_PREFIXES: &[&str] = &[
    "cbv", "cbvmda", "dcterms", "epcis", "gs1", "owl", "rdfs", "xsd",
];

pub(crate) struct Normalised {
    pub json: Map<String, Value>,
    pub event_type: EventType,
    pub time_ms: i64,
    pub products: Vec<ProductRef>,
    pub expanded: BTreeSet<String>,
    pub ns: BTreeMap<String, String>,
    pub error_declaration: Option<ErrorDeclaration>,
}

fn err(code: &'static str, path: &str, message: impl Into<String>) -> EpcisError {
    EpcisError {
        code,
        message: message.into(),
        path: path.to_string(),
    }
}

/// Per-field handler: (context, key, value, path) → None for "not a known field".
type FieldFn<'f, 'a> =
    dyn FnMut(&mut Cx<'a>, &str, &Value, &str) -> Option<Result<Value, EpcisError>> + 'f;

struct Cx<'a> {
    ns: &'a BTreeMap<String, String>,
    used: BTreeSet<String>,
    expanded: BTreeSet<String>,
    products: Vec<ProductRef>,
}

impl<'a> Cx<'a> {
    fn check_prefix(&mut self, key: &str, path: &str) -> Result<(), EpcisError> {
        let Some((p, _)) = key.split_once(':') else {
            return Ok(());
        };
        if self.ns.contains_key(p) {
            self.used.insert(p.to_string());
            Ok(())
        } else if STANDARD_PREFIXES.contains(&p) {
            Ok(())
        } else {
            Err(err(
                "undeclared_prefix",
                path,
                format!("prefix {p:?} of {key:?} is not declared in @context"),
            ))
        }
    }

    /// Extension value: keys with a prefix must be declared; values kept verbatim.
    fn extension(&mut self, v: &Value, path: &str) -> Result<(), EpcisError> {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{path}.{k}");
                    self.check_prefix(k, &p)?;
                    self.extension(x, &p)?;
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.extension(x, &format!("{path}[{i}]"))?;
                }
            }
            Value::String(s) => self.note_value_prefix(s),
            _ => {}
        }
        Ok(())
    }

    fn note_value_prefix(&mut self, s: &str) {
        if let Some((p, _)) = s.split_once(':') {
            if self.ns.contains_key(p) {
                self.used.insert(p.to_string());
            }
        }
    }

    fn id(&mut self, v: &Value, path: &str, rel: Option<Relation>) -> Result<Value, EpcisError> {
        let s = v
            .as_str()
            .ok_or_else(|| err("invalid_identifier", path, "identifier must be a string"))?;
        let n = normalise_identifier(s).map_err(|m| err("invalid_identifier", path, m))?;
        if let Some(relation) = rel {
            if self.products.len() >= EVENT_EPCS_MAX {
                return Err(err(
                    "too_many_identifiers",
                    path,
                    format!("more than {EVENT_EPCS_MAX} identifiers in one event"),
                ));
            }
            self.products.push(ProductRef {
                id: n.clone(),
                relation,
                quantity: None,
                uom: None,
            });
        }
        Ok(Value::String(n))
    }

    fn id_list(&mut self, v: &Value, path: &str, rel: Relation) -> Result<Value, EpcisError> {
        let a = v
            .as_array()
            .ok_or_else(|| err("invalid_field", path, "must be an array"))?;
        let mut out = Vec::with_capacity(a.len());
        for (i, x) in a.iter().enumerate() {
            out.push(self.id(x, &format!("{path}[{i}]"), Some(rel))?);
        }
        Ok(Value::Array(out))
    }

    fn vocab(&mut self, voc: &Vocab, v: &Value, path: &str) -> Result<Value, EpcisError> {
        let s = v
            .as_str()
            .ok_or_else(|| err("invalid_field", path, "must be a string"))?;
        self.note_value_prefix(s);
        let n = voc
            .normalise(s)
            .map_err(|m| err("invalid_field", path, m))?;
        if let Some(u) = voc.full_uri(&n) {
            self.expanded.insert(u);
        }
        Ok(Value::String(n))
    }

    fn quantities(&mut self, v: &Value, path: &str, rel: Relation) -> Result<Value, EpcisError> {
        let a = v
            .as_array()
            .ok_or_else(|| err("invalid_field", path, "must be an array"))?;
        let mut out = Vec::with_capacity(a.len());
        for (i, q) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let m = q
                .as_object()
                .ok_or_else(|| err("invalid_quantity", &p, "quantity element must be an object"))?;
            let mut o = Map::new();
            let class = m.get("epcClass").ok_or_else(|| {
                err(
                    "missing_field",
                    &format!("{p}.epcClass"),
                    "epcClass is required",
                )
            })?;
            let id = self.id(class, &format!("{p}.epcClass"), Some(rel))?;
            let mut qty = None;
            let mut uom = None;
            for (k, x) in m {
                let kp = format!("{p}.{k}");
                match k.as_str() {
                    "epcClass" => {
                        o.insert(k.clone(), id.clone());
                    }
                    "quantity" => {
                        let n = x.as_f64().filter(|f| f.is_finite() && *f >= 0.0);
                        let Some(n) = n else {
                            return Err(err(
                                "invalid_quantity",
                                &kp,
                                "quantity must be a non-negative JSON number",
                            ));
                        };
                        qty = Some(n);
                        o.insert(k.clone(), x.clone());
                    }
                    "uom" => {
                        let s = x.as_str().filter(|s| {
                            (2..=3).contains(&s.len())
                                && s.bytes()
                                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                        });
                        let Some(s) = s else {
                            return Err(err(
                                "invalid_quantity",
                                &kp,
                                "uom must be a UN/CEFACT Rec 20 code",
                            ));
                        };
                        uom = Some(s.to_string());
                        o.insert(k.clone(), x.clone());
                    }
                    _ if k.contains(':') => {
                        self.check_prefix(k, &kp)?;
                        self.extension(x, &kp)?;
                        o.insert(k.clone(), x.clone());
                    }
                    _ => return Err(err("invalid_field", &kp, format!("unknown field {k:?}"))),
                }
            }
            if uom.is_some() && qty.is_none() {
                return Err(err("invalid_quantity", &p, "uom without quantity"));
            }
            if let Some(last) = self.products.last_mut() {
                last.quantity = qty;
                last.uom = uom;
            }
            out.push(Value::Object(o));
        }
        Ok(Value::Array(out))
    }

    fn time(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        let s = v
            .as_str()
            .ok_or_else(|| err("invalid_time", path, "time must be a string"))?;
        parse_rfc3339(s).ok_or_else(|| {
            err(
                "invalid_time",
                path,
                format!("{s:?} is not RFC 3339 with offset"),
            )
        })?;
        Ok(v.clone())
    }

    fn string(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        match v {
            Value::String(s) => {
                self.note_value_prefix(s);
                Ok(v.clone())
            }
            _ => Err(err("invalid_field", path, "must be a string")),
        }
    }

    fn uri(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        match v.as_str() {
            Some(s) if is_absolute_uri(s) => {
                self.note_value_prefix(s);
                Ok(v.clone())
            }
            _ => Err(err("invalid_field", path, "must be an absolute URI")),
        }
    }

    /// Object with known fields handled by `f`, extensions verbatim, unknown bare keys rejected.
    fn object(
        &mut self,
        v: &Value,
        path: &str,
        f: &mut FieldFn<'_, 'a>,
    ) -> Result<Map<String, Value>, EpcisError> {
        let m = v
            .as_object()
            .ok_or_else(|| err("invalid_field", path, "must be an object"))?;
        let mut o = Map::new();
        for (k, x) in m {
            let kp = format!("{path}.{k}");
            let val = match f(self, k, x, &kp) {
                Some(r) => r?,
                None if k.contains(':') => {
                    self.check_prefix(k, &kp)?;
                    self.extension(x, &kp)?;
                    x.clone()
                }
                None => return Err(err("invalid_field", &kp, format!("unknown field {k:?}"))),
            };
            o.insert(k.clone(), val);
        }
        Ok(o)
    }

    fn location(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        let o = self.object(v, path, &mut |cx, k, x, p| {
            (k == "id").then(|| cx.id(x, p, None))
        })?;
        if !o.contains_key("id") {
            return Err(err(
                "missing_field",
                &format!("{path}.id"),
                "id is required",
            ));
        }
        Ok(Value::Object(o))
    }

    fn typed_list(
        &mut self,
        v: &Value,
        path: &str,
        value_key: &'static str,
        voc: &Vocab,
    ) -> Result<Value, EpcisError> {
        let a = v
            .as_array()
            .ok_or_else(|| err("invalid_field", path, "must be an array"))?;
        let mut out = Vec::with_capacity(a.len());
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let o = self.object(x, &p, &mut |cx, k, x, kp| match k {
                "type" => Some(cx.vocab(voc, x, kp)),
                _ if k == value_key => Some(match x.as_str() {
                    Some(s) if s.starts_with("urn:epc:") || s.starts_with("http") => {
                        cx.id(x, kp, None)
                    }
                    _ => cx.uri(x, kp),
                }),
                _ => None,
            })?;
            if !o.contains_key(value_key) {
                return Err(err(
                    "missing_field",
                    &format!("{p}.{value_key}"),
                    format!("{value_key} is required"),
                ));
            }
            out.push(Value::Object(o));
        }
        Ok(Value::Array(out))
    }

    fn number(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        match v.as_f64() {
            Some(f) if f.is_finite() => Ok(v.clone()),
            _ => Err(err("invalid_field", path, "must be a JSON number")),
        }
    }

    fn sensor_list(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        let a = v
            .as_array()
            .ok_or_else(|| err("invalid_field", path, "must be an array"))?;
        let mut out = Vec::with_capacity(a.len());
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let o = self.object(x, &p, &mut |cx, k, x, kp| match k {
                "sensorMetadata" => Some(
                    cx.object(x, kp, &mut |cx, k, x, kp| match k {
                        "time" | "startTime" | "endTime" => Some(cx.time(x, kp)),
                        "deviceID"
                        | "deviceMetadata"
                        | "rawData"
                        | "dataProcessingMethod"
                        | "bizRules" => Some(cx.uri(x, kp)),
                        _ => None,
                    })
                    .map(Value::Object),
                ),
                "sensorReport" => Some(cx.sensor_reports(x, kp)),
                _ => None,
            })?;
            out.push(Value::Object(o));
        }
        Ok(Value::Array(out))
    }

    fn sensor_reports(&mut self, v: &Value, path: &str) -> Result<Value, EpcisError> {
        let a = v
            .as_array()
            .ok_or_else(|| err("invalid_field", path, "must be an array"))?;
        let mut out = Vec::with_capacity(a.len());
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let o = self.object(x, &p, &mut |cx, k, x, kp| match k {
                "type" => Some(cx.vocab(&vocab::MEASUREMENT, x, kp)),
                "exception" => Some(cx.vocab(&vocab::ALERT, x, kp)),
                "component" => Some(match x.as_str() {
                    Some(s) if s.contains(':') && !s.contains("://") && !s.starts_with("cbv:") => {
                        cx.string(x, kp)
                    }
                    _ => cx.vocab(&vocab::COMPONENT, x, kp),
                }),
                "time" => Some(cx.time(x, kp)),
                "value" | "minValue" | "maxValue" | "meanValue" | "sDev" | "percRank"
                | "percValue" => Some(cx.number(x, kp)),
                "booleanValue" => Some(if x.is_boolean() {
                    Ok(x.clone())
                } else {
                    Err(err("invalid_field", kp, "must be a boolean"))
                }),
                "stringValue" | "hexBinaryValue" | "uom" => Some(cx.string(x, kp)),
                "deviceID"
                | "deviceMetadata"
                | "rawData"
                | "dataProcessingMethod"
                | "microorganism"
                | "chemicalSubstance"
                | "uriValue"
                | "coordinateReferenceSystem"
                | "bizRules" => Some(cx.uri(x, kp)),
                _ => None,
            })?;
            out.push(Value::Object(o));
        }
        Ok(Value::Array(out))
    }
}

fn allowed(t: EventType, k: &str) -> bool {
    const COMMON: &[&str] = &[
        "@context",
        "type",
        "eventID",
        "eventTime",
        "eventTimeZoneOffset",
        "recordTime",
        "certificationInfo",
        "bizStep",
        "disposition",
        "persistentDisposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "errorDeclaration",
    ];
    let specific: &[&str] = match t {
        EventType::Object => &["action", "epcList", "quantityList", "ilmd"],
        EventType::Aggregation | EventType::Association => {
            &["action", "parentID", "childEPCs", "childQuantityList"]
        }
        EventType::Transaction => &["action", "parentID", "epcList", "quantityList"],
        EventType::Transformation => &[
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
            "ilmd",
        ],
    };
    COMMON.contains(&k) || specific.contains(&k)
}

/// Checks a `@context` value the way the EPCIS 2.0 JSON schema does: an absolute URI, an
/// object, or an array of distinct absolute URIs and objects.
pub(crate) fn check_context(ctx: &Value, path: &str) -> Result<(), EpcisError> {
    let uri_or_object = |v: &Value, p: &str| match v {
        Value::Object(_) => Ok(()),
        Value::String(s) if is_absolute_uri(s) => Ok(()),
        _ => Err(err(
            "invalid_field",
            p,
            "@context entries must be absolute URIs or objects",
        )),
    };
    match ctx {
        Value::Array(items) => {
            let mut seen = BTreeSet::new();
            for (i, v) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                uri_or_object(v, &p)?;
                if !seen.insert(v.to_string()) {
                    return Err(err(
                        "invalid_field",
                        &p,
                        "@context entries must be distinct",
                    ));
                }
            }
            Ok(())
        }
        other => uri_or_object(other, path),
    }
}

/// Reads prefix declarations (`{"prefix": "uri"}` objects) from a `@context` value.
pub(crate) fn context_prefixes(ctx: &Value, out: &mut BTreeMap<String, String>) {
    let mut add = |m: &Map<String, Value>| {
        for (k, v) in m {
            if let Value::String(u) = v {
                if !k.starts_with('@') {
                    out.insert(k.clone(), u.clone());
                }
            }
        }
    };
    match ctx {
        Value::Object(m) => add(m),
        Value::Array(a) => a.iter().filter_map(Value::as_object).for_each(add),
        _ => {}
    }
}

/// Validates and normalises one event object at `path`, with the document's prefixes `doc_ns`.
pub(crate) fn normalise(
    v: &Value,
    path: &str,
    doc_ns: &BTreeMap<String, String>,
) -> Result<Normalised, EpcisError> {
    let m = v
        .as_object()
        .ok_or_else(|| err("invalid_field", path, "event must be an object"))?;
    let tp = format!("{path}.type");
    let t = match m.get("type") {
        None => return Err(err("missing_field", &tp, "event type is required")),
        Some(Value::String(s)) => EventType::from_name(s).ok_or_else(|| {
            err(
                "unknown_event_type",
                &tp,
                format!("unknown event type {s:?}"),
            )
        })?,
        Some(_) => {
            return Err(err(
                "unknown_event_type",
                &tp,
                "event type must be a string",
            ))
        }
    };
    let mut ns = doc_ns.clone();
    if let Some(c) = m.get("@context") {
        context_prefixes(c, &mut ns);
    }
    let mut cx = Cx {
        ns: &ns,
        used: BTreeSet::new(),
        expanded: BTreeSet::new(),
        products: Vec::new(),
    };
    let mut out = Map::new();
    let mut time_ms = 0;
    let mut error_declaration = None;
    for (k, x) in m {
        let p = format!("{path}.{k}");
        if k.contains(':') {
            cx.check_prefix(k, &p)?;
            cx.extension(x, &p)?;
            out.insert(k.clone(), x.clone());
            continue;
        }
        if !allowed(t, k) {
            return Err(err(
                "invalid_field",
                &p,
                format!("field {k:?} is not allowed in {}", t.name()),
            ));
        }
        let val = match k.as_str() {
            "@context" => {
                check_context(x, &p)?;
                continue;
            }
            "type" => x.clone(),
            "eventID" => cx.uri(x, &p)?,
            "eventTime" => {
                let s = x
                    .as_str()
                    .ok_or_else(|| err("invalid_time", &p, "eventTime must be a string"))?;
                let i = parse_rfc3339(s).ok_or_else(|| {
                    err(
                        "invalid_time",
                        &p,
                        format!("{s:?} is not RFC 3339 with offset"),
                    )
                })?;
                time_ms = i.millis();
                x.clone()
            }
            "recordTime" => cx.time(x, &p)?,
            "eventTimeZoneOffset" => match x.as_str().and_then(parse_offset) {
                Some(_) => x.clone(),
                None => {
                    return Err(err(
                        "invalid_time",
                        &p,
                        "eventTimeZoneOffset must be ±hh:mm",
                    ))
                }
            },
            "action" => match x.as_str() {
                Some("ADD" | "OBSERVE" | "DELETE") => x.clone(),
                _ => {
                    return Err(err(
                        "invalid_field",
                        &p,
                        "action must be ADD, OBSERVE or DELETE",
                    ))
                }
            },
            "certificationInfo" => match x {
                Value::Array(a) => {
                    for (i, c) in a.iter().enumerate() {
                        cx.uri(c, &format!("{p}[{i}]"))?;
                    }
                    x.clone()
                }
                _ => cx.uri(x, &p)?,
            },
            "bizStep" => cx.vocab(&vocab::BIZ_STEP, x, &p)?,
            "disposition" => cx.vocab(&vocab::DISPOSITION, x, &p)?,
            "persistentDisposition" => {
                Value::Object(cx.object(x, &p, &mut |cx, k, x, kp| match k {
                    "set" | "unset" => Some((|| {
                        let a = x
                            .as_array()
                            .ok_or_else(|| err("invalid_field", kp, "must be an array"))?;
                        let mut o = Vec::new();
                        for (i, d) in a.iter().enumerate() {
                            o.push(cx.vocab(&vocab::DISPOSITION, d, &format!("{kp}[{i}]"))?);
                        }
                        Ok(Value::Array(o))
                    })()),
                    _ => None,
                })?)
            }
            "readPoint" | "bizLocation" => cx.location(x, &p)?,
            "bizTransactionList" => cx.typed_list(x, &p, "bizTransaction", &vocab::BTT)?,
            "sourceList" => cx.typed_list(x, &p, "source", &vocab::SDT)?,
            "destinationList" => cx.typed_list(x, &p, "destination", &vocab::SDT)?,
            "sensorElementList" => cx.sensor_list(x, &p)?,
            "errorDeclaration" => {
                let o = cx.object(x, &p, &mut |cx, k, x, kp| match k {
                    "declarationTime" => Some(cx.time(x, kp)),
                    "reason" => Some(cx.vocab(&vocab::ERROR_REASON, x, kp)),
                    "correctiveEventIDs" => Some(match x.as_array() {
                        Some(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, e)| cx.uri(e, &format!("{kp}[{i}]")))
                            .collect::<Result<Vec<_>, _>>()
                            .map(Value::Array),
                        None => Err(err("invalid_field", kp, "must be an array")),
                    }),
                    _ => None,
                })?;
                let declaration_time_ms = o
                    .get("declarationTime")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339)
                    .map(|i| i.millis())
                    .ok_or_else(|| {
                        err(
                            "missing_field",
                            &format!("{p}.declarationTime"),
                            "declarationTime is required",
                        )
                    })?;
                error_declaration = Some(ErrorDeclaration {
                    declaration_time_ms,
                    reason: o.get("reason").and_then(Value::as_str).map(str::to_string),
                    corrective_event_ids: o
                        .get("correctiveEventIDs")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                    extensions: o
                        .iter()
                        .filter(|(k, _)| k.contains(':'))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
                Value::Object(o)
            }
            "ilmd" => {
                let o = cx.object(x, &p, &mut |_, _, _, _| None)?;
                Value::Object(o)
            }
            "transformationID" => cx.uri(x, &p)?,
            "parentID" => cx.id(x, &p, Some(Relation::Parent))?,
            "epcList" => cx.id_list(x, &p, Relation::Epc)?,
            "childEPCs" => cx.id_list(x, &p, Relation::Child)?,
            "inputEPCList" => cx.id_list(x, &p, Relation::Input)?,
            "outputEPCList" => cx.id_list(x, &p, Relation::Output)?,
            "quantityList" => cx.quantities(x, &p, Relation::Quantity)?,
            "childQuantityList" => cx.quantities(x, &p, Relation::ChildQuantity)?,
            "inputQuantityList" => cx.quantities(x, &p, Relation::InputQuantity)?,
            "outputQuantityList" => cx.quantities(x, &p, Relation::OutputQuantity)?,
            _ => return Err(err("invalid_field", &p, format!("unknown field {k:?}"))),
        };
        out.insert(k.clone(), val);
    }
    for req in ["eventTime", "eventTimeZoneOffset"] {
        if !m.contains_key(req) {
            return Err(err(
                "missing_field",
                &format!("{path}.{req}"),
                format!("{req} is required"),
            ));
        }
    }
    if t != EventType::Transformation && !m.contains_key("action") {
        return Err(err(
            "missing_field",
            &format!("{path}.action"),
            "action is required",
        ));
    }
    // The EPCIS 2.0 JSON schema's ObjectEvent: an epcList (possibly empty), a non-empty
    // quantityList, or a non-empty sensorElementList with a readPoint.
    let non_empty = |k: &str| {
        m.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let names_what = m.contains_key("epcList")
        || non_empty("quantityList")
        || (non_empty("sensorElementList") && m.contains_key("readPoint"));
    if t == EventType::Object && !names_what {
        return Err(err(
            "missing_field",
            &format!("{path}.epcList"),
            "an ObjectEvent needs an epcList, a non-empty quantityList, or a non-empty \
             sensorElementList with a readPoint",
        ));
    }
    if t == EventType::Association && !m.contains_key("parentID") {
        return Err(err(
            "missing_field",
            &format!("{path}.parentID"),
            "parentID is required",
        ));
    }
    if t == EventType::Transaction && !m.contains_key("bizTransactionList") {
        return Err(err(
            "missing_field",
            &format!("{path}.bizTransactionList"),
            "bizTransactionList is required",
        ));
    }
    let used: BTreeMap<String, String> = cx
        .used
        .iter()
        .filter_map(|p| ns.get(p).map(|u| (p.clone(), u.clone())))
        .collect();
    if !used.is_empty() {
        let ctx: Map<String, Value> = used
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        out.insert("@context".into(), Value::Object(ctx));
    }
    Ok(Normalised {
        json: out,
        event_type: t,
        time_ms,
        products: cx.products,
        expanded: cx.expanded,
        ns: used,
        error_declaration,
    })
}
