//! CBV 2.0 §8.9 EPCIS event hash ID: the pre-hash string, ported from the reference
//! implementation `epcis-event-hash-generator` 1.9.3 (`json_to_py.py`,
//! `json_xml_model_mismatch_correction.py`, `hash_generator.py`) including its quirks, so that
//! our IDs equal the reference tool's. Differences (documented, deliberate):
//! * the vocabulary-expansion set is built from the event alone (the tool uses the whole
//!   document, making an event's hash depend on its siblings);
//! * an event-level `@context` (our stored namespace map) is not part of the hash;
//! * sub-millisecond times that round up to the next second carry over (the tool errors).

use crate::ids::reference_normalise;
use crate::time::parse_rfc3339;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    T(String, String, Vec<Node>),
    /// (type, value) pair of bizTransaction / source / destination lists.
    P(Box<Node>, Box<Node>),
}

impl Node {
    fn name(&self) -> Option<&str> {
        match self {
            Node::T(n, _, _) => Some(n),
            Node::P(..) => None,
        }
    }
    fn children_empty(&self) -> bool {
        match self {
            Node::T(_, _, c) => c.is_empty(),
            Node::P(..) => false,
        }
    }
}

type Ns = BTreeMap<String, String>;

fn ns_key(key: &str, ns: &Ns) -> String {
    if let Some((p, rest)) = key.split_once(':') {
        if let Some(u) = ns.get(p) {
            return format!("{{{u}}}{rest}");
        }
    }
    key.to_string()
}

fn ns_value(v: &str, ns: &Ns) -> String {
    if let Some((p, rest)) = v.split_once(':') {
        if let Some(u) = ns.get(p) {
            return format!("{}{rest}", u.replace(['{', '}'], ""));
        }
    }
    v.to_string()
}

/// Python `repr(float)`.
pub(crate) fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", e),
        };
        format!("{m}e{sign}{digits:0>2}")
    }
}

fn scalar_text(v: &Value, ns: &Ns) -> String {
    match v {
        Value::String(s) => ns_value(s, ns),
        Value::Number(n) => {
            if n.is_f64() {
                py_float(n.as_f64().unwrap_or(f64::NAN))
            } else {
                n.to_string()
            }
        }
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        _ => String::new(),
    }
}

const UNSORTED_KEYS: [&str; 3] = ["bizTransaction", "source", "destination"];

fn json_to_node(v: &Value, ns: &Ns) -> Node {
    match v {
        Value::Array(items) => {
            let mut ch: Vec<Node> = items.iter().map(|x| json_to_node(x, ns)).collect();
            let keep = items
                .iter()
                .any(|x| matches!(x, Value::String(s) if UNSORTED_KEYS.contains(&s.as_str())));
            if !keep {
                ch.sort();
            }
            Node::T(String::new(), String::new(), ch)
        }
        Value::Object(m) => {
            let name = match m.get("type") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => scalar_text(other, ns),
                None => String::new(),
            };
            let text = m
                .get("#text")
                .map(|t| scalar_text(t, ns))
                .unwrap_or_default();
            let mut ch = Vec::new();
            // Keep (type, value) first for the unsorted pair objects, as GS1 examples write them.
            let mut keys: Vec<&String> = m.keys().collect();
            let pair_obj = UNSORTED_KEYS.iter().any(|k| m.contains_key(*k));
            if pair_obj {
                keys.sort_by_key(|k| (k.as_str() != "type", (*k).clone()));
            }
            for key in keys {
                if matches!(key.as_str(), "#text" | "rdfs:comment" | "comment")
                    || key.starts_with("@xmlns")
                {
                    continue;
                }
                let val = &m[key];
                let child = json_to_node(val, ns);
                let k = ns_key(key, ns);
                if let (Value::Array(_), Node::T(_, _, gc)) = (val, &child) {
                    for el in gc {
                        if let Node::T(_, t, c) = el {
                            ch.push(Node::T(k.clone(), t.clone(), c.clone()));
                        }
                    }
                } else if let Node::T(_, t, c) = child {
                    ch.push(Node::T(k, t, c));
                }
            }
            if !pair_obj {
                ch.sort();
            }
            Node::T(name, text, ch)
        }
        other => Node::T(String::new(), scalar_text(other, ns), Vec::new()),
    }
}

fn deep_correct(node: Node) -> Node {
    let Node::T(name, text, mut children) = node else {
        return node;
    };
    let mut lists: Vec<(String, Vec<Node>)> = Vec::new();
    let mut rest = Vec::with_capacity(children.len());
    for el in children.drain(..) {
        match &el {
            Node::T(n, t, c) if n.ends_with("List") => {
                let short = n[..n.len() - 4].to_string();
                let item = Node::T(short, t.clone(), c.clone());
                match lists.iter_mut().find(|(ln, _)| ln == n) {
                    Some((_, v)) => v.push(item),
                    None => lists.push((n.clone(), vec![item])),
                }
            }
            _ => rest.push(el),
        }
    }
    for (ln, items) in lists {
        if ["sourceList", "destinationList", "bizTransactionList"].contains(&ln.as_str()) {
            let pairs = items
                .into_iter()
                .filter_map(|e| match e {
                    Node::T(_, _, mut c) if c.len() >= 2 => {
                        let b = c.remove(1);
                        let a = c.remove(0);
                        Some(Node::P(Box::new(a), Box::new(b)))
                    }
                    Node::T(_, _, mut c) if c.len() == 1 => Some(c.remove(0)),
                    _ => None,
                })
                .collect();
            rest.push(Node::T(ln, String::new(), pairs));
        } else {
            rest.push(Node::T(ln, String::new(), items));
        }
    }
    let mut epcs = Vec::new();
    rest.retain(|el| match el {
        Node::T(n, t, _) if n == "childEPCs" => {
            epcs.push(Node::T("epc".into(), t.clone(), Vec::new()));
            false
        }
        _ => true,
    });
    if !epcs.is_empty() {
        rest.push(Node::T("childEPCs".into(), String::new(), epcs));
    }
    let corrected: Vec<Node> = rest
        .into_iter()
        .map(|el| match el.name() {
            Some("sourceList" | "destinationList" | "bizTransactionList") | None => el,
            _ => deep_correct(el),
        })
        .collect();
    let name = match name.as_str() {
        "inputEPC" | "outputEPC" => "epc".to_string(),
        "inputQuantity" | "outputQuantity" | "childQuantity" => "quantityElement".to_string(),
        "quantity" if !corrected.is_empty() => "quantityElement".to_string(),
        _ => name,
    };
    Node::T(name, text, corrected)
}

/// Property order: (name, sub-order). `None` entries are the tool's never-matching
/// bizTransaction/source/destination orders.
struct Ord_ {
    name: Option<&'static str>,
    sub: &'static [Ord_],
}

const fn o(name: &'static str, sub: &'static [Ord_]) -> Ord_ {
    Ord_ {
        name: Some(name),
        sub,
    }
}

const NEVER: Ord_ = Ord_ {
    name: None,
    sub: &[],
};
const QE: &[Ord_] = &[o(
    "quantityElement",
    &[o("epcClass", &[]), o("quantity", &[]), o("uom", &[])],
)];
const EPC: &[Ord_] = &[o("epc", &[])];
const PROP_ORDER: &[Ord_] = &[
    o("eventTime", &[]),
    o("eventTimeZoneOffset", &[]),
    o("certificationInfo", &[]),
    o("parentID", &[]),
    o("epcList", EPC),
    o("inputEPCList", EPC),
    o("childEPCs", EPC),
    o("quantityList", QE),
    o("childQuantityList", QE),
    o("inputQuantityList", QE),
    o("outputEPCList", EPC),
    o("outputQuantityList", QE),
    o("action", &[]),
    o("transformationID", &[]),
    o("bizStep", &[]),
    o("disposition", &[]),
    o("persistentDisposition", &[o("set", &[]), o("unset", &[])]),
    o("readPoint", &[o("id", &[])]),
    o("bizLocation", &[o("id", &[])]),
    o("bizTransactionList", &[NEVER]),
    o("sourceList", &[NEVER]),
    o("destinationList", &[NEVER]),
    o(
        "sensorElementList",
        &[o(
            "sensorElement",
            &[
                o(
                    "sensorMetadata",
                    &[
                        o("time", &[]),
                        o("startTime", &[]),
                        o("endTime", &[]),
                        o("deviceID", &[]),
                        o("deviceMetadata", &[]),
                        o("rawData", &[]),
                        o("dataProcessingMethod", &[]),
                        o("bizRules", &[]),
                    ],
                ),
                o(
                    "sensorReport",
                    &[
                        o("type", &[]),
                        o("exception", &[]),
                        o("deviceID", &[]),
                        o("deviceMetadata", &[]),
                        o("rawData", &[]),
                        o("dataProcessingMethod", &[]),
                        o("time", &[]),
                        o("microorganism", &[]),
                        o("chemicalSubstance", &[]),
                        o("value", &[]),
                        o("component", &[]),
                        o("stringValue", &[]),
                        o("booleanValue", &[]),
                        o("hexBinaryValue", &[]),
                        o("uriValue", &[]),
                        o("minValue", &[]),
                        o("maxValue", &[]),
                        o("meanValue", &[]),
                        o("sDev", &[]),
                        o("percRank", &[]),
                        o("percValue", &[]),
                        o("uom", &[]),
                        o("coordinateReferenceSystem", &[]),
                    ],
                ),
            ],
        )],
    ),
];

fn fix_time(t: &str) -> String {
    match parse_rfc3339(t) {
        Some(i) => i.to_utc_millis_string(),
        None => t.to_string(),
    }
}

fn web_vocab(t: &str) -> String {
    t.replace(
        "urn:epcglobal:cbv:bizstep:",
        "https://ref.gs1.org/cbv/BizStep-",
    )
    .replace("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")
    .replace("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-")
    .replace("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-")
    .replace("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-")
}

/// Python `float(text)` for plain decimal syntax (None if not numeric).
fn py_parse_float(t: &str) -> Option<f64> {
    let s = t.trim();
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let d0 = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut nd = i - d0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        nd += i - f0;
    }
    if nd == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok()
}

fn numeric(t: String) -> String {
    match py_parse_float(&t) {
        Some(x) if x.is_finite() => {
            if x == 0.0 {
                "0".into()
            } else if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                py_float(x)
            }
        }
        _ => t,
    }
}

fn canonize(t: &str) -> String {
    let t = numeric(web_vocab(t));
    match reference_normalise(&t) {
        Some(c) => c,
        None => t,
    }
}

fn child_to_pre(child: &mut Node, sub: &[Ord_]) -> String {
    let Node::T(name, text, ch) = child else {
        return String::new();
    };
    let grand = if sub.is_empty() {
        String::new()
    } else {
        recurse(ch, sub)
    };
    let mut t = String::new();
    if !text.is_empty() {
        let s = text.trim();
        let lower = name.to_lowercase();
        t = if lower.contains("time") && !lower.contains("offset") {
            fix_time(s)
        } else {
            canonize(s)
        };
        if !t.is_empty() {
            t = format!("={t}");
        }
    }
    if !t.is_empty() || !grand.is_empty() {
        format!("{name}{t}{grand}")
    } else {
        String::new()
    }
}

fn gather_user_extensions(list: &mut Vec<Node>) -> Vec<Node> {
    if list.len() <= 1 {
        return Vec::new();
    }
    if list.iter().any(|c| {
        c.name()
            .is_some_and(|n| n.contains("eventTime") || n.contains("action"))
    }) {
        return Vec::new();
    }
    let mut ext = Vec::new();
    list.retain(|x| {
        let is_ext = x
            .name()
            .is_some_and(|n| n.contains('{') && n.contains("/}"));
        if is_ext {
            ext.push(x.clone());
        }
        !is_ext
    });
    ext
}

fn recurse(list: &mut Vec<Node>, order: &[Ord_]) -> String {
    let mut pre = String::new();
    let ext = gather_user_extensions(list);
    for entry in order {
        let Some(name) = entry.name else { continue };
        let mut vals = Vec::new();
        for child in list.iter_mut().filter(|c| c.name() == Some(name)) {
            let s = child_to_pre(child, entry.sub);
            if !s.is_empty() {
                vals.push(s);
            }
        }
        // Processed children left without grandchildren are consumed (one pass, not O(n²)).
        list.retain(|c| !(c.name() == Some(name) && c.children_empty()));
        vals.sort();
        pre.push_str(&vals.concat());
    }
    if !ext.is_empty() {
        pre.push_str(&generic(&ext));
    }
    pre
}

fn generic(children: &[Node]) -> String {
    let mut vals = Vec::with_capacity(children.len());
    for c in children {
        match c {
            Node::P(a, b) => vals.push(generic(&[(**a).clone(), (**b).clone()])),
            Node::T(n, t, ch) => {
                let s = t.trim();
                let t = if s.is_empty() {
                    String::new()
                } else {
                    format!("={}", canonize(s))
                };
                vals.push(format!("{n}{t}{}", generic(ch)));
            }
        }
    }
    let should_sort = !children
        .iter()
        .any(|c| c.name().is_some_and(|n| UNSORTED_KEYS.contains(&n)));
    if children.len() > 1 && should_sort {
        vals.sort();
    }
    vals.concat()
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn replace_bare(v: &mut Value, set: &BTreeSet<String>) {
    match v {
        Value::String(s) => {
            let dash = format!("-{s}");
            let slash = format!("/{s}");
            let mut it = set
                .iter()
                .filter(|x| x.ends_with(&dash) || x.ends_with(&slash));
            if let (Some(m), None) = (it.next(), it.next()) {
                *s = m.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| replace_bare(x, set)),
        Value::Object(m) => m.values_mut().for_each(|x| replace_bare(x, set)),
        _ => {}
    }
}

/// The pre-hash string of a normalised event. `expanded` holds the full vocabulary URIs of the
/// event's standard vocabulary values (the tool's JSON-LD expansion); `ns` the declared prefixes.
pub(crate) fn prehash(event: &Map<String, Value>, expanded: &BTreeSet<String>, ns: &Ns) -> String {
    let mut ev = event.clone();
    ev.remove("@context");
    let mut set = expanded.clone();
    let mut strings = Vec::new();
    for v in ev.values() {
        collect_strings(v, &mut strings);
    }
    for s in strings {
        if s.starts_with("https://ref.gs1.org/cbv") || s.starts_with("https://gs1.org/voc") {
            set.insert(s.to_string());
        }
    }
    let mut val = Value::Object(ev);
    if !set.is_empty() {
        replace_bare(&mut val, &set);
    }
    let node = deep_correct(json_to_node(&val, ns));
    let Node::T(event_type, _, mut children) = node else {
        return String::new();
    };
    let ordered = recurse(&mut children, PROP_ORDER);
    children.retain(|c| {
        !matches!(
            c.name(),
            Some("recordTime" | "eventID" | "type" | "errorDeclaration")
        )
    });
    let rest = if children.is_empty() {
        String::new()
    } else {
        generic(&children)
    };
    format!("eventType={event_type}{ordered}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr_is_reproduced() {
        assert_eq!(py_float(26.0), "26.0");
        assert_eq!(py_float(12.1), "12.1");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(1.5e20), "1.5e+20");
    }

    #[test]
    fn numeric_strings_are_canonicalised_like_python() {
        assert_eq!(numeric("0614141".into()), "614141");
        assert_eq!(numeric("26.0".into()), "26");
        assert_eq!(numeric("-0.0".into()), "0");
        assert_eq!(numeric("abc".into()), "abc");
        assert_eq!(numeric("12.50".into()), "12.5");
    }
}
